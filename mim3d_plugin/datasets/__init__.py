"""Datasets and data transforms, registered in mmdet3d's ``DATASETS`` / ``TRANSFORMS``."""
from .transforms import *  # noqa: F401,F403
