#!/bin/bash
# The GPU path in one prepared command (bench/gpu.py: train to early stop, stream through update, top-10
# latency, train on one device and serve on the CPU, audit every tensor's device). On a GPU machine:
#     bash bench/gpu.sh --device cuda
# CI runs it on the CPU at a tiny size: bash bench/gpu.sh --device cpu --tiny --out DIR
# (PYTHON: the interpreter, .venv's by default)
cd "$(dirname "$0")/.." || exit 1
export HF_HUB_OFFLINE=1
exec "${PYTHON:-.venv/bin/python}" bench/gpu.py "$@"
