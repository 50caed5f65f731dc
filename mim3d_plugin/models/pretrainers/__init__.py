"""The pretrainer (:class:`MaskedPretrainer`), its shared masked encoders and the old-checkpoint key maps."""
from .checkpoint_layouts import BACKBONE_PREFIXES, OLD_LAYOUTS, detect_layout, upgrade_keys  # noqa: F401
from .encoders import RGBDTokenEncoder, SparseMaskEncoder, UnitMaskSwinEncoder, rgbd_frames  # noqa: F401
from .masked_pretrainer import MaskedPretrainer  # noqa: F401
