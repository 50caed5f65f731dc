from .cross_view_attention import CrossViewAttention  # noqa: F401
from .image_grid_mask import ImageGridMask  # noqa: F401
