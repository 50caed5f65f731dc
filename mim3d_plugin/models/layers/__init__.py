
from .cross_view_attention import CrossViewAttention  # noqa: F401
