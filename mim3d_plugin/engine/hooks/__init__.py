"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .head_class_order_hook import HeadClassOrderHook, check_head_class_order, head_class_names
from .loss_scale_skip_hook import LossScaleSkipHook
from .pretrain_visualization_hook import PretrainVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'HeadClassOrderHook', 'LossScaleSkipHook', 'check_head_class_order', 'head_class_names',
    'PretrainVisualizationHook'
]
