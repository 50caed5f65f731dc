"""Dataset converters: raw dataset tables -> mmdet3d 1.x (v2) info files."""
from .nuscenes_converter import (NUSCENES_CAMERAS, NUSCENES_CLASSES, create_nuscenes_infos, get_split_scenes,
                                 update_infos)

__all__ = ['NUSCENES_CAMERAS', 'NUSCENES_CLASSES', 'create_nuscenes_infos', 'get_split_scenes', 'update_infos']
