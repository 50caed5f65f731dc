
from .mask3d_head import Mask3DHead, Mask3DPretrainDecoder  # noqa: F401
from .rgbd_reconstruction_head import RGBDReconstructionHead  # noqa: F401
from .geomim_decoder import GeoMIMDecoder  # noqa: F401
from .volume_rendering_head import VolumeRenderingHead  # noqa: F401
