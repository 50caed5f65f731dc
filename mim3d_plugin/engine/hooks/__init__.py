"""Runner hooks."""
from .head_class_order_hook import HeadClassOrderHook, check_head_class_order, head_class_names

__all__ = ['HeadClassOrderHook', 'check_head_class_order', 'head_class_names']
