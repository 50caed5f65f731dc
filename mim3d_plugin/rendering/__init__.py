"""Differentiable volume rendering split as rays / samplers / fields / renderers / losses
(the project style guide, Sec. 4). Pure PyTorch; imports only torch, mmengine and ``geometry``."""
from .colliders import COLLIDERS, AABBCollider, NearFarCollider
from .fields import VolumeRGBField, VolumeSDFField, sample_volume
from .losses import depth_l1_loss, eikonal_loss, rgb_l1_loss
from .rays import RayBundle, RaySamples, pixel_centers, rays_from_pixels
from .renderers import alpha_to_weights, neus_alpha, render_depth, render_opacity, render_rgb
from .samplers import NeuSUpSampler, UniformSampler, sample_pdf

__all__ = [
    'AABBCollider', 'NearFarCollider', 'COLLIDERS', 'RayBundle', 'RaySamples', 'rays_from_pixels', 'pixel_centers',
    'UniformSampler', 'NeuSUpSampler', 'sample_pdf', 'VolumeSDFField', 'VolumeRGBField', 'sample_volume', 'neus_alpha',
    'alpha_to_weights', 'render_rgb', 'render_depth', 'render_opacity', 'rgb_l1_loss', 'depth_l1_loss', 'eikonal_loss'
]
