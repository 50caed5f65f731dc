#!/usr/bin/env bash
# The offline GPU check, one command, on the bare GPU image (Python 3.12 + torch 2.11, no package index):
#
#   bash tools/gpu_check/run.sh BUNDLE OUT
#
# BUNDLE: the folder of tools/gpu_check/prepare_bundle.py (wheels + a few bundled nuScenes frames + their info files).
# OUT: where the results go (nothing else is written outside /tmp): OUT/smoke.{json,md} (every small config: one
# bf16 training step + one predict on the device, the compiled-or-PyTorch choice of every mmcv op) and
# OUT/gpu.{json,md} (benchmark.py on the paper configs: s/step, samples/s, peak memory, MFU vs the card's bf16 peak).
# Budget: install ~20 s, smoke ~2-3 min, benchmark ~4 min: under 8 minutes in all.
set -euo pipefail
BUNDLE=$(cd "$1" && pwd)
OUT=$2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SITE=${MIM3D_SITE:-/tmp/mim3d_site}
mkdir -p "$OUT"
start=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$BUNDLE"/wheels/*.whl
# mmcv-lite has no mmcv._ext: the shim answers for it (PyTorch paths of mim3d_plugin.ops); an image's own
# sitecustomize, if any, still runs after it.
cat > "$SITE/sitecustomize.py" <<PY
import os, runpy, sys
runpy.run_path('$REPO/mim3d_plugin/ops/mmcv_ext_shim.py')
_here = os.path.dirname(os.path.abspath(__file__))
for _d in sys.path:
    _p = os.path.join(os.path.abspath(_d or '.'), 'sitecustomize.py')
    if os.path.dirname(_p) != _here and os.path.isfile(_p):
        runpy.run_path(_p)
        break
PY
export PYTHONPATH="$SITE:$REPO" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
echo "gpu_check: install took $(( $(date +%s) - start )) s"
cd "$REPO"
rc=0
timeout 270 python3 tools/analysis_tools/gpu_smoke_test.py --nus-root "$BUNDLE/nuscenes" \
  --info-dir "$BUNDLE/nuscenes_infos" --out "$OUT" || rc=$?
echo "gpu_check: smoke test rc=$rc at $(( $(date +%s) - start )) s"
timeout 270 python3 tools/analysis_tools/gpu_check.py --nus-root "$BUNDLE/nuscenes" \
  --info-dir "$BUNDLE/nuscenes_infos" --out "$OUT/gpu" --iters 5 --timeout 75 || rc=$?
echo "gpu_check: done rc=$rc in $(( $(date +%s) - start )) s"
exit $rc
