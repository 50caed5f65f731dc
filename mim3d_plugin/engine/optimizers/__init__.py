"""Optimizer wrapper constructors (registered in mmdet3d's ``OPTIM_WRAPPER_CONSTRUCTORS``)."""
from .layer_decay_optim_wrapper_constructor import LayerDecayOptimWrapperConstructor, swin_vit_layer_depth

__all__ = ['LayerDecayOptimWrapperConstructor', 'swin_vit_layer_depth']
