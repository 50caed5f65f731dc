"""Model utilities shared by several modules."""
from .meta import stack_meta  # noqa: F401
