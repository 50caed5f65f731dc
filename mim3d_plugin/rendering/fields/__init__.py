"""Fields: sample positions in, per-sample values (SDF, RGB, features) out."""
from .volume_fields import VolumeRGBField, VolumeSDFField, sample_volume

__all__ = ['VolumeSDFField', 'VolumeRGBField', 'sample_volume']
