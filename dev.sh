#!/usr/bin/env bash
# One entry point for a fresh machine: `./dev.sh demo` or `./dev.sh test` (see README.md).
# Creates .venv, installs torch (the host's job inside ComfyUI) and the pack, then runs the job.
#
# With COMFYUI_PATH set (a ComfyUI checkout) and COMFYUI_PYTHON unset, setup also installs
# ComfyUI's requirements (without torch/torchvision/torchaudio, plus requests, which ComfyUI imports
# without listing it) into .venv and `test` runs the real-ComfyUI tests with .venv's Python as
# COMFYUI_PYTHON: one venv, torch installed once. With COMFYUI_PYTHON set, that Python is used as
# it is. Without COMFYUI_PATH the real-ComfyUI tests are skipped, with the reason printed.
set -euo pipefail
cd "$(dirname "$0")"

setup() {
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # torch is provided by ComfyUI in real use; here we install the CPU-usable build.
    .venv/bin/python -c "import torch, torchvision" 2>/dev/null ||
        .venv/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
    local comfyui=()
    if [ -n "${COMFYUI_PATH:-}" ] && [ -z "${COMFYUI_PYTHON:-}" ]; then
        [ -f "$COMFYUI_PATH/requirements.txt" ] || { echo "COMFYUI_PATH=$COMFYUI_PATH has no requirements.txt: not a ComfyUI checkout" >&2; exit 2; }
        grep -vE '^[[:space:]]*(torch|torchvision|torchaudio)[[:space:]]*$' "$COMFYUI_PATH/requirements.txt" > .venv/comfyui-requirements.txt
        comfyui=(-r .venv/comfyui-requirements.txt requests)
        export COMFYUI_PYTHON="$PWD/.venv/bin/python"
    fi
    # One resolve for the pack's and ComfyUI's requirements, so a conflict between them fails here.
    .venv/bin/pip install --quiet -r requirements.txt -r requirements-test.txt ${comfyui[@]+"${comfyui[@]}"}
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
