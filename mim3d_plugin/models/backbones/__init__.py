from .geomim_swin import GeoMIMSwin  # noqa: F401
from .mask3d_vit import Mask3DViT  # noqa: F401
from .mask_convnext import MaskConvNeXt  # noqa: F401
