#!/usr/bin/env bash
# Install mim3d and its OpenMMLab stack into the active Python environment.
#
# Usage:  bash tools/install.sh [--wheels DIR] [--light]
#
#   --wheels DIR   optional folder of prebuilt wheels (e.g. ../shared/wheels with an
#                  mmcv 2.1.0 wheel built against torch 2.13.0). Without it mmcv is
#                  built from source with its CPU/CUDA ops (about 20-30 min on 2 cores).
#   --light        no mmcv build: mmcv-lite 2.1.0 (pure Python) and a stand-in for its
#                  missing compiled ops (mim3d_plugin/ops/mmcv_ext_shim.py, run at start
#                  by a .pth file); every op mim3d calls then takes its PyTorch path
#                  (mim3d_plugin/ops; README "Light install" says what it costs).
#
# The order matters: mmcv's setup.py imports torch and pkg_resources, so torch,
# setuptools<82 and ninja go in first and mmcv is built without build isolation.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
FIND_LINKS=()
LIGHT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) [ -d "$2" ] || { echo "install.sh: --wheels: no folder '$2'" >&2; exit 2; }
              FIND_LINKS=(--find-links "$(cd "$2" && pwd)"); shift 2 ;;
    --light) LIGHT=1; shift ;;
    *) echo "install.sh: unknown argument '$1' (usage: bash tools/install.sh [--wheels DIR] [--light])" >&2; exit 2 ;;
  esac
done
set -x
# '===' takes the registry's build of torch (a local '+cpu' build cannot load torchvision).
$PY -m pip install "torch===2.13.0" "torchvision===0.28.0"
$PY -m pip install "setuptools>=77,<82" ninja wheel mmengine==0.10.7
if [ "$LIGHT" = 1 ]; then
  $PY -m pip uninstall -y mmcv || true
  $PY -m pip install mmcv-lite==2.1.0
  $PY -m pip install -r <(grep -v '^mmcv==' requirements/mminstall.txt) -r requirements/runtime.txt -r requirements/tests.txt
  SITE=$($PY -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "import runpy; runpy.run_path('$PWD/mim3d_plugin/ops/mmcv_ext_shim.py')" > "$SITE/mim3d_mmcv_ext_shim.pth"
else
  MMCV_WITH_OPS=1 $PY -m pip install --no-build-isolation "${FIND_LINKS[@]}" mmcv==2.1.0
  $PY -m pip install -r requirements/mminstall.txt -r requirements/runtime.txt -r requirements/tests.txt
fi
$PY -m pip install --no-build-isolation --no-deps -e .
$PY -c "import torch, mmcv, mmcv.ops, mmdet, mmdet3d, mmpretrain, nuscenes, spconv, mim3d_plugin; from mim3d_plugin.ops import op_choices; print('mim3d install OK: torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet3d', mmdet3d.__version__, 'ops on cpu:', op_choices('cpu'))"
