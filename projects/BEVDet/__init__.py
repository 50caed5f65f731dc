"""BEVDet / BEVDet4D on mmdet3d 1.x (see README.md)."""
