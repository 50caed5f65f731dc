"""Pretext heads of :class:`MaskedPretrainer`: each takes the shared encoder's output and the batch and
returns its named losses."""
from .bev_distill_head import LiDARBEVDistillHead  # noqa: F401
from .depth_prior_head import DepthPriorHead, DepthTokenFusion  # noqa: F401
from .masked_pixel_head import MaskedPixelHead  # noqa: F401
from .temporal_rendering_head import TemporalRenderingHead  # noqa: F401
