from .masked_pretrainer import BasePretextHead, EncoderOutput, MaskedPretrainer, units_to_cells  # noqa: F401
from .encoders import RGBDTokenEncoder, SparseMaskEncoder, UnitMaskSwinEncoder  # noqa: F401
from .mask3d import Mask3D, RGBDDataPreprocessor  # noqa: F401
from .geomim import GeoMIM  # noqa: F401
from .mim4d import MIM4D  # noqa: F401
