from .cross_view_attention import CrossViewAttention  # noqa: F401
from .grid_mask import GridMask  # noqa: F401
