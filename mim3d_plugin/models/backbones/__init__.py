
from .mask_convnext import MaskConvNeXt  # noqa: F401
