#!/usr/bin/env bash
# One entry point for a fresh machine: `./dev.sh demo` or `./dev.sh test` (see README.md).
# Creates .venv, installs torch (the host's job inside ComfyUI) and the pack, then runs the job.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # torch is provided by ComfyUI in real use; here we install the CPU-usable build.
    .venv/bin/python -c "import torch, torchvision" 2>/dev/null ||
        .venv/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
    .venv/bin/pip install --quiet -r requirements.txt -r requirements-test.txt
    .venv/bin/pip install --quiet --no-deps -e .
}

case "${1:-}" in
    demo)
        setup
        .venv/bin/comfyui-fuse demo --out demo_out
        ;;
    test)
        setup
        shift
        OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
