
from .mask_convnext import MaskConvNeXt  # noqa: F401
from .geomim_swin import GeoMIMSwin  # noqa: F401
