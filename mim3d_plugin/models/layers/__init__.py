from .grid_mask import GridMask  # noqa: F401
from .cross_view_attention import CrossViewAttention  # noqa: F401
