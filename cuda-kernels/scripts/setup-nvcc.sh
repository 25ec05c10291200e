#!/usr/bin/env bash
# Installs nvcc 13.0 (+ cudart, cuBLAS headers/libs) from NVIDIA's PyPI wheels into <repo>/.tools/nvcc-venv
# (ignored by git) and prints the nvcc path on the last line of stdout. Idempotent: a second run only
# prints the path. The five compiler wheels are pinned together on purpose: a newer nvvm breaks ptxas 13.0.
# Usage: cuda-kernels/scripts/setup-nvcc.sh   (needs python3 with venv and network access to PyPI)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.tools/nvcc-venv"
PINS=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88
      nvidia-cuda-cccl==13.0.85 nvidia-nvvm==13.0.88 nvidia-cublas==13.0.2.14)
STAMP="$VENV/.pins"
want="${PINS[*]}"
py="$(ls "$VENV"/lib/python3*/site-packages -d 2>/dev/null | head -1 || true)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  echo "setup-nvcc: installing ${PINS[*]} into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}" >&2
  echo "$want" > "$STAMP"
  py="$(ls "$VENV"/lib/python3*/site-packages -d | head -1)"
fi
N="$py/nvidia/cu13"
[[ -x "$N/bin/nvcc" ]] || { echo "setup-nvcc: $N/bin/nvcc missing after install" >&2; exit 1; }
# the wheels ship libcublas.so.13 only; the linker wants a plain libcublas.so for -lcublas
[[ -e "$N/lib/libcublas.so" ]] || ln -sf libcublas.so.13 "$N/lib/libcublas.so"
echo "$N/bin/nvcc"
