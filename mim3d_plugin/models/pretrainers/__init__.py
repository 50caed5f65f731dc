
from .mask3d import Mask3D, RGBDDataPreprocessor  # noqa: F401
from .geomim import GeoMIM  # noqa: F401
from .mim4d import MIM4D  # noqa: F401
