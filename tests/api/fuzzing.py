"""schemathesis's own CLI against a running Sundown: every check, every phase, counted.

Used by ``tests/api/test_schemathesis.py`` (a few examples per operation, in ``make
test``) and by ``bench/api_fuzz.py`` (200 and more, by hand). Both run exactly this
command line::

    schemathesis --config-file <dir>/schemathesis.toml run <dir>/schema.json \\
      --url <server> -H "Authorization: Token <key>" --checks all \\
      --phases examples,coverage,fuzzing,stateful -n <examples> --seed 1337 \\
      --report json --workers 1 --suppress-health-check too_slow

The config file gives the generator the ids of objects the token may write to
(``[dictionaries]`` bound to the related-object fields and the path ids), so positive
requests reach past "that vendor does not exist". ``tests/api/schemathesis_hooks.py``
names the few rules a JSON schema cannot state (which objects exist, what state they
are in, what the deployment allows) and excuses a "schema-valid request rejected" only
when the API's answer names one of them; every excuse is counted and printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHASES = "examples,coverage,fuzzing,stateful"
SEED = 1337
# Failure codes (`schemathesis explain <code>`), in the groups the issue counts.
SERVER_ERRORS = frozenset({"ST101", "ST102"})
# Responses that are not as the schema documents them (status, content type, headers, body).
SCHEMA_VIOLATIONS = frozenset(f"ST1{n:02d}" for n in range(3, 12))
# Requests about which schema and behaviour disagree (invalid accepted, valid rejected).
REQUEST_MISMATCHES = frozenset({"ST201", "ST202"})


@dataclass
class FuzzRun:
    command: list[str]
    operations: int
    cases: int
    failures: dict[str, int]  # code -> number of unique failures
    titles: dict[str, str]
    failing_operations: dict[str, list[str]]
    errors: list[str]
    excused: dict[str, int]
    warnings: dict[str, list]
    seconds: float
    output: str = field(repr=False)

    def _count(self, codes: frozenset[str]) -> int:
        return sum(n for code, n in self.failures.items() if code in codes)

    @property
    def server_errors(self) -> int:
        return self._count(SERVER_ERRORS)

    @property
    def schema_violations(self) -> int:
        return self._count(SCHEMA_VIOLATIONS)

    @property
    def request_mismatches(self) -> int:
        return self._count(REQUEST_MISMATCHES)

    @property
    def other_failures(self) -> int:
        known = SERVER_ERRORS | SCHEMA_VIOLATIONS | REQUEST_MISMATCHES
        return sum(n for code, n in self.failures.items() if code not in known)

    @property
    def clean(self) -> bool:
        return not self.failures and not self.errors

    def summary(self) -> str:
        lines = [
            f"operations: {self.operations}",
            f"test cases: {self.cases}",
            f"server errors: {self.server_errors}",
            f"schema violations (responses not as documented): {self.schema_violations}",
            f"requests where schema and behaviour disagree: {self.request_mismatches}",
            f"other failures (stateful, auth, methods, headers): {self.other_failures}",
            f"errors (the run itself): {len(self.errors)}",
            f"seconds: {self.seconds:.1f}",
        ]
        for code, n in sorted(self.failures.items()):
            ops = ", ".join(self.failing_operations.get(code, []))
            lines.append(f"  {code} {self.titles.get(code, '')}: {n} ({ops})")
        for error in self.errors:
            lines.append(f"  error: {error}")
        total = sum(self.excused.values())
        lines.append(f"rejections excused by rules the schema cannot state: {total}")
        for rule, n in sorted(self.excused.items()):
            lines.append(f"  {n:6d}  {rule}")
        return "\n".join(lines)


def fetch_schema(base_url: str, token: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/api/schema/?format=json", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        return json.load(response)


def write_config(path: Path, schema: dict, ids: dict[str, list[int]]) -> None:
    """schemathesis.toml: real ids for the related-object fields and the path ids.

    ``ids`` maps a resource of the URL (``vendors``, ``audit-events``) to ids the token
    may act on; ``agencies``, ``vendors``, ``systems`` and ``contracts`` also feed the
    body fields that refer to them.
    """

    def dictionary(resource: str) -> str:
        return resource.replace("-", "_")

    lines = []
    for resource, values in ids.items():
        lines += [f"[dictionaries.{dictionary(resource)}]", f"values = {values}", ""]
    bodies = {
        "body.agency": "agencies",
        "body.vendor": "vendors",
        "body.system": "systems",
        "body.contracts[*]": "contracts",
    }
    lines.append("[parameters]")
    for key, resource in bodies.items():
        if resource in ids:
            lines.append(f'"{key}" = {{ dictionary = "{dictionary(resource)}" }}')
    lines.append("")
    seen = set()
    # Every operation on one object needs real ids, or the run never gets past "not
    # found" there: a resource added to the API must be added to both runs' ids.
    missing = {
        match.group(1)
        for url in schema.get("paths", {})
        if (match := re.fullmatch(r"/api/v1/([\w-]+)/\{(\w+)\}/.*", url))
        and match.group(1) not in ids
    }
    if missing:
        raise ValueError(f"no ids for {', '.join(sorted(missing))}: add them to the run's ids")
    for url in schema.get("paths", {}):
        match = re.fullmatch(r"/api/v1/([\w-]+)/\{(\w+)\}/.*", url)
        if not match or match.groups() in seen:
            continue
        seen.add(match.groups())
        resource, name = match.groups()
        lines += [
            "[[operations]]",
            f"include-path-regex = {json.dumps('^/api/v1/' + resource + '/[{]')}",
            f'parameters = {{ "path.{name}" = {{ dictionary = "{dictionary(resource)}" }} }}',
            "",
        ]
    path.write_text("\n".join(lines))


def run_schemathesis(
    *,
    base_url: str,
    token: str,
    workdir: Path,
    examples: int,
    ids: dict[str, list[int]],
    seed: int = SEED,
    phases: str = PHASES,
    max_time: int | None = None,
    timeout: float = 3600,
    only: str | None = None,
) -> FuzzRun:
    """Run the CLI once and read its JSON report."""
    workdir.mkdir(parents=True, exist_ok=True)
    schema_path = workdir / "schema.json"
    schema = fetch_schema(base_url, token)
    schema_path.write_text(json.dumps(schema))
    config_path = workdir / "schemathesis.toml"
    write_config(config_path, schema, ids)
    report_path = workdir / "report.json"
    excused_path = workdir / "excused.jsonl"
    excused_path.write_text("")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config_path),
        "run",
        str(schema_path),
        "--url",
        base_url,
        "-H",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--phases",
        phases,
        "-n",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--no-color",
        "--output-truncate",
        "true",
        # A worker's first use of a connector imports its client library (seconds on
        # a loaded machine): slow once, not stuck.
        "--request-timeout",
        "60",
        "--max-response-time",
        "30",
        # Hypothesis's own clock on generating data (the long text patterns, a 5,000
        # character note): on a loaded 2-core machine it aborted one operation's run,
        # which says nothing about the API. schemathesis's guide suppresses it for
        # long runs; every check on the responses stays on.
        "--suppress-health-check",
        "too_slow",
    ]
    if max_time is not None:
        command += ["--max-time", str(max_time)]
    if only is not None:  # a re-run of some operations (bench/api_fuzz.py --only)
        command += ["--include-path-regex", only]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
        "SUNDOWN_FUZZ_EXCUSED": str(excused_path),
    }
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command, env=env, capture_output=True, text=True, timeout=timeout, cwd=workdir
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    if not report_path.exists():
        raise RuntimeError(f"schemathesis wrote no report (exit {done.returncode}):\n{output}")
    report = json.loads(report_path.read_text())
    excused: dict[str, int] = {}
    for line in excused_path.read_text().splitlines():
        rule = json.loads(line)["rule"]
        excused[rule] = excused.get(rule, 0) + 1
    failures: dict[str, int] = {}
    titles: dict[str, str] = {}
    failing: dict[str, list[str]] = {}
    for failure in report["failures"]:
        code = failure["code"]
        failures[code] = failures.get(code, 0) + failure["count"]
        titles[code] = failure["title"]
        failing.setdefault(code, []).extend(failure["operations"])
    shown = [
        arg if not arg.startswith("Authorization:") else "Authorization: Token …" for arg in command
    ]
    return FuzzRun(
        command=shown,
        operations=report["operations"]["tested"],
        cases=report["test_cases"]["generated"],
        failures=failures,
        titles=titles,
        failing_operations=failing,
        errors=[json.dumps(e)[:500] for e in report["errors"]],
        excused=excused,
        warnings={k: v for k, v in report["warnings"].items() if v},
        seconds=seconds,
        output=output,
    )
