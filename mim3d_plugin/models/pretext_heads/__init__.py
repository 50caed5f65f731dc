"""Pretext heads of :class:`MaskedPretrainer`: each takes the shared encoder's output, the batch and the stacked
camera geometry and returns its named losses."""
from .base import MASK_KINDS, META_DTYPES, BasePretextHead, EncoderOutput, split_views, stack_geometry  # noqa: F401
from .bev_distill_head import LiDARBEVDistillHead  # noqa: F401
from .depth_prior_head import DepthPriorHead, DepthTokenFusion  # noqa: F401
from .masked_pixel_head import MaskedPixelHead  # noqa: F401
from .temporal_rendering_head import TEMPORAL_TARGETS, TemporalRenderingHead  # noqa: F401
