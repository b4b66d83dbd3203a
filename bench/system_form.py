"""The first GET /systems/new/ in a cold process: the system form builds every kind's
fieldset. Runs each measurement in a fresh interpreter and prints the form's time and
what it imported, next to a yardstick measured in the same processes: importing every
connector module (and so its driver), which is what the form did before its settings
help moved to revocation/connectors/meta (issue 14).

    .venv/bin/python bench/system_form.py [--runs 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
import django
django.setup()
what = sys.argv[1]
before = set(sys.modules)
start = time.perf_counter()
if what == "form":
    from dashboard.system_forms import SystemForm
    SystemForm(agencies=()).kind_sections()
else:
    from revocation.connectors.registry import CONNECTORS, connector_class
    for kind in CONNECTORS:
        connector_class(kind)
seconds = time.perf_counter() - start
new = set(sys.modules) - before
connectors = [m for m in new if m.startswith("revocation.connectors.") and ".meta" not in m]
print(json.dumps({"seconds": seconds, "modules": len(new), "connectors": len(connectors)}))
"""


def _run(what: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, what],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    for what, label in (("form", "system form, cold"), ("connectors", "yardstick: import all")):
        runs = [_run(what) for _ in range(args.runs)]
        median = statistics.median(r["seconds"] for r in runs)
        print(
            f"{label:<24} median {median * 1000:8.1f} ms  "
            f"modules {runs[0]['modules']:4d}  connector modules {runs[0]['connectors']}"
        )
    print(f"load average at start {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
