"""Evaluation metrics registered in mmdet3d's ``METRICS``."""
from .depth_baselines import DEPTH_BASELINES, visible_depth_baselines  # noqa: F401,E402
from .metrics import *  # noqa: F401,F403
