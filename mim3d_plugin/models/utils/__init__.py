"""Model utilities shared by several modules."""
from .camera_params import CAMERA_VECTOR_DIMS, camera_aware_vector
from .depth_norm import DEPTH_NORMS, encode_depth_input, normalize_depth, robust_depth_stats
from .meta import stack_meta
from .patches import normalize_patches, patchify, unpatchify
from .token_masking import (encode_visible_depth, given_masking, random_masking, restore_full_grid, sincos_pos_embed_2d,
                            units_to_cells)

__all__ = [
    'CAMERA_VECTOR_DIMS', 'camera_aware_vector', 'DEPTH_NORMS', 'encode_depth_input', 'normalize_depth',
    'robust_depth_stats', 'stack_meta', 'normalize_patches', 'patchify', 'unpatchify', 'encode_visible_depth',
    'given_masking', 'random_masking', 'restore_full_grid', 'sincos_pos_embed_2d', 'units_to_cells'
]
