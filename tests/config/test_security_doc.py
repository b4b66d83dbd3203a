"""docs/security.md names tests that exist: a renamed or split test must not leave the
findings or the ASVS table pointing at nothing (two references had gone stale)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")
BARE = re.compile(r"(?<![\w:/])`(test_\w+)`")


def _defines(path: str, name: str) -> bool:
    return re.search(rf"^def {name}\b", (ROOT / path).read_text(), re.M) is not None


def test_every_test_the_security_doc_names_exists():
    missing = []
    doc = (ROOT / "docs" / "security.md").read_text()
    for line in doc.splitlines():
        # A bare `test_x` in a table cell belongs to the last file named before it.
        for cell in line.split("|") if line.startswith("|") else [line]:
            last_file = None
            for match in re.finditer(f"{NODE.pattern}|{BARE.pattern}", cell):
                path, name, bare = match.groups()
                if path:
                    last_file = path
                    if not (ROOT / path).is_file() or (name and not _defines(path, name)):
                        missing.append(match.group())
                elif last_file is None or not _defines(last_file, bare):
                    missing.append(f"{last_file}::{bare}")
    assert not missing, missing
