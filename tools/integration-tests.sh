#!/usr/bin/env bash
# Prints a `swift test --filter` regular expression naming every test that carries the `.integration` trait
# (tests that start child processes or run Python), so that `make test` can run them apart from the unit tests.
# A test is named after a dot (a free function: `Module.name(`) or a slash (in a suite: `Module.Suite/name(`).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import pathlib, re, sys
names = set()
for path in pathlib.Path("Tests").rglob("*.swift"):
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"@Test\(\s*\.integration\b.*?\bfunc\s+([A-Za-z0-9_]+)", text, re.S):
        names.add(match.group(1))
if not names:
    sys.exit("no integration tests found")
print(r"[./](%s)\(" % "|".join(sorted(names)), end="")
PY
