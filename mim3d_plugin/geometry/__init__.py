"""Shared geometry: frames, projection, lifting, ego motion. Imports only torch."""
from .ego_motion import relative_transform, warp_bev, warp_volume
from .frames import (apply_transform, invert_rigid, make_transform, pad_intrinsics, rotation_z, to_homogeneous,
                     transform_boxes)
from .grid import VoxelGrid
from .lifting import (create_frustum, depth_bin_centers, depth_weighted_pooling, frustum_to_points,
                      sample_multiview_features, voxel_pooling)
from .projection import points_to_depth_map, project_points, unproject_depth

__all__ = [
    'apply_transform', 'invert_rigid', 'make_transform', 'pad_intrinsics', 'rotation_z', 'to_homogeneous',
    'transform_boxes', 'VoxelGrid', 'project_points', 'unproject_depth', 'points_to_depth_map', 'create_frustum',
    'depth_bin_centers', 'frustum_to_points', 'voxel_pooling', 'depth_weighted_pooling', 'sample_multiview_features',
    'relative_transform', 'warp_volume', 'warp_bev'
]
