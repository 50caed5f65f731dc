"""Evaluation metrics registered in mmdet3d's ``METRICS``."""
from .metrics import *  # noqa: F401,F403
