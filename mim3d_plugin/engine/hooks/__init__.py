"""Runner hooks."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .head_class_order_hook import HeadClassOrderHook, check_head_class_order, head_class_names
from .pretrain_visualization_hook import PretrainVisualizationHook

__all__ = [
    'AtomicCheckpointHook', 'HeadClassOrderHook', 'check_head_class_order', 'head_class_names',
    'PretrainVisualizationHook'
]
