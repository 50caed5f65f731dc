"""Data preprocessors registered in mmdet3d's ``MODELS``."""
from .multiview_data_preprocessor import MultiViewDataPreprocessor, pad_and_stack_depth
from .rgbd_data_preprocessor import RGBDDataPreprocessor

__all__ = ['MultiViewDataPreprocessor', 'RGBDDataPreprocessor', 'pad_and_stack_depth']
