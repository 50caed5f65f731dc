"""mim3d: 3D-aware masked-image-modeling pretraining for camera backbones (OpenMMLab 2.x plugin).

``import mim3d_plugin`` (or ``custom_imports = dict(imports=['mim3d_plugin'])`` in a config)
registers every module of the plugin in mmdet3d's registries.
"""
# isort: off
from .version import __version__  # noqa: F401
from . import engine  # noqa: F401,E402  (first: makes checkpoints loadable under torch>=2.6)
from . import datasets, evaluation, models, ops  # noqa: F401,E402
# isort: on
