"""Data preprocessors registered in mmdet3d's ``MODELS``."""
from .multiview_data_preprocessor import MultiViewDataPreprocessor

__all__ = ['MultiViewDataPreprocessor']
