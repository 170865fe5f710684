#!/bin/sh
# Creates build/bench-venv: torch (CPU build), transformers, peft, numpy and gguf for tools/bench/torch_lora.py.
# Idempotent: a marker file (build/bench-venv/.installed, newer than the requirements) makes a second run do nothing.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV="$ROOT/build/bench-venv"
REQUIREMENTS="$ROOT/tools/bench/requirements-torch.txt"
MARKER="$VENV/.installed"
TORCH_CPU="torch==2.13.0+cpu"

if [ -f "$MARKER" ] && [ "$MARKER" -nt "$REQUIREMENTS" ] && [ "$MARKER" -nt "$0" ]; then
	exit 0
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
# torch writes to TMPDIR even in eager mode: keep it under build/ during the install too.
mkdir -p "$ROOT/build/torch-tmp"
export TMPDIR="$ROOT/build/torch-tmp"

# The CPU build is offered through PIP_FIND_LINKS / pip's find-links (a local wheel directory); PyPI has no +cpu builds.
if ! $PIP install --quiet "$TORCH_CPU"; then
	echo "torch-venv: $TORCH_CPU is not offered here; falling back to PyPI's torch (CUDA wheels, about 3 GB; it runs on the CPU)" >&2
	$PIP install --quiet torch
fi
$PIP install --quiet -r "$REQUIREMENTS"
"$VENV/bin/python" -c 'import torch, transformers, peft, gguf; print("torch-venv: torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)' >&2
touch "$MARKER"
