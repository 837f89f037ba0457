#!/usr/bin/env bash
# Creates benchmarks/.torch-venv for the PyTorch side of the speed benchmarks (the IMDB LSTM,
# and MiniLM fine-tuning on SST-2 through Hugging Face transformers).
#
# torch and transformers are not project dependencies, so they live in their own venv rather than in the
# project's. Safe to re-run: an existing venv is reused and pip skips what is installed.
#
#   bash benchmarks/torch_venv.sh
set -euo pipefail

venv="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.torch-venv"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi

# Pinned: the CPU wheel of this exact version is on the machine's disk; an unpinned
# `torch` would resolve to a multi-GB CUDA build instead. transformers does not require torch,
# so installing it beside the pin cannot swap the build.
"$venv/bin/python" -m pip install --quiet torch==2.13.0 transformers==5.24.0 numpy pandas

"$venv/bin/python" -c 'import torch; assert not torch.version.cuda, "got a CUDA build of torch"' >&2
echo "$venv/bin/python"
