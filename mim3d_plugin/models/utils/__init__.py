"""Model utilities shared by several modules."""
from .meta import stack_meta  # noqa: F401
from .camera_params import CAMERA_VECTOR_DIMS, camera_aware_vector  # noqa: F401
