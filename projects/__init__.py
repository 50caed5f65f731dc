"""OpenMMLab-style projects built on mim3d_plugin (BEVDet, BEVFormer); each is an importable package."""
