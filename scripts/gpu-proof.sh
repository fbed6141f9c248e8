#!/usr/bin/env bash
# Real-hardware proof of `invoke detect` and the smoke checks, on a machine whose
# system python3 already has torch + torchvision (no flox result): the preinstalled
# torch stands in for the sm90 / avx512 / CUDA 13.0 variant, with the versions it
# really has given as expectation overrides (the report lists them as overridden).
#
#   scripts/gpu-proof.sh OUTDIR [WHEELDIR]
#
# WHEELDIR holds wheels for what the machine lacks (archspec, tomlkit, invoke).
# Every step's exit status and wall time is written to OUTDIR/times.txt.
set -u
out=${1:?usage: scripts/gpu-proof.sh OUTDIR [WHEELDIR]}
wheels=${2:-}
cd "$(dirname "$0")/.."
mkdir -p "$out"
if [ -n "$wheels" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/buildmatrix-site "$wheels"/*.whl || exit 1
  export PYTHONPATH=/tmp/buildmatrix-site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/scripts PYTHONUNBUFFERED=1
TIMEFORMAT='%R'

step() {  # name expected-rc command...
  local name=$1 want=$2 rc t; shift 2
  t=$( { time "$@" >"$out/$name.log" 2>&1; echo "rc=$?" >"$out/.rc"; } 2>&1 )
  rc=$(cut -d= -f2 "$out/.rc")
  printf '%-14s rc=%s (expected %s)  %6.2f s\n' "$name" "$rc" "$want" "$t" | tee -a "$out/times.txt"
}

nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | tee "$out/times.txt"
python3 -c 'import sys, torch, torchvision; print("python", sys.version.split()[0], "torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda)' | tee -a "$out/times.txt"

S=(python3 -m buildmatrix.smoke --python python3 --expect-python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
   --expect-torch "$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')"
   --expect-torchvision "$(python3 -c 'import torchvision; print(torchvision.__version__.split("+")[0])')"
   --expect-cuda "$(python3 -c 'import torch; print(torch.version.cuda)')")

step detect 0 python3 -m invoke detect
step detect-json 0 python3 -m invoke detect --json
step smoke-tv 0 "${S[@]}" --variant torchvision-python313-cuda13_0-sm90-avx512 --json "$out/smoke-tv.json"
step smoke-pt 0 "${S[@]}" --variant pytorch-python313-cuda13_0-sm90-avx512
# Negative controls: an sm80 build's expectations on a 9.0 GPU (SASS mismatch: skipped),
# and the model's own expectations (Python 3.13, torch 2.10.0) against this interpreter (fail).
step smoke-sm80 77 "${S[@]}" --variant torchvision-python313-cuda13_0-sm80-avx512
step smoke-model 1 python3 -m buildmatrix.smoke --python python3 --variant torchvision-python313-cuda13_0-sm90-avx512
rm -f "$out/.rc"
