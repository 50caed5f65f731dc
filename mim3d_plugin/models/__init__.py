"""Registered model components (backbones, necks, layers, view transforms, temporal modules,
heads, teachers, pretraining algorithms). Importing this package registers them in mmdet3d's
``MODELS`` registry."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .pretext_heads import *  # noqa: F401,F403
from .pretrainers import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
from .teachers import *  # noqa: F401,F403
from .temporal import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
from .view_transforms import *  # noqa: F401,F403
