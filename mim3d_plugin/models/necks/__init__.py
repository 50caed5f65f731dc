"""Pretraining decoders (mmpretrain's role name for them: necks): GeoMIM's Cross-View-Attention decoder and
Mask3D's dense decoder."""
from .geomim_decoder import GeoMIMDecoder  # noqa: F401
from .mask3d_decoder import Mask3DPretrainDecoder  # noqa: F401
