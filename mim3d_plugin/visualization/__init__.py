"""Pictures of what the pretraining models see and predict (for the visualisation hook and the tools)."""
from .panels import colorize_depth, denormalize, hstack, mask_overlay, pca_rgb, vstack  # noqa: F401

__all__ = ['colorize_depth', 'denormalize', 'hstack', 'mask_overlay', 'pca_rgb', 'vstack']
