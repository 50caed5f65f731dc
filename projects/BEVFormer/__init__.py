"""BEVFormer project."""
