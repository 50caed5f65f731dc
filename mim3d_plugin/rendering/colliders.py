"""Scene colliders: set each ray's ``near`` / ``far`` from the scene it is rendered in.

* :class:`AABBCollider` - clip rays to an axis-aligned box (the voxel volume's
  range) and a near plane: MIM4D / UniPAD ``AABBBoxCollider`` (``scene_colliders.py``,
  ``near_plane=1.0`` m in their configs), nerfstudio's slab test. Samples then stay
  inside the volume instead of reading zeros outside it.
* :class:`NearFarCollider` - fixed ``near`` / ``far`` for every ray.

Colliders are unit-agnostic: the box, the planes and the rays must be given in the
same units (:class:`VolumeRenderingHead` passes them in scene units, i.e. metres x
``scene_scale``). They hold no learnable weights.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor

from .rays import RayBundle


class AABBCollider:
    """Clip rays to ``[min, max]`` of an axis-aligned box, starting no closer than ``near_plane``.

    Args:
        scene_box (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]``
            in the rays' frame and units.
        near_plane (float): smallest ``near`` along the ray (same units). Default: 0.

    Returns (``__call__``):
        tuple[RayBundle, Tensor]: the rays with ``near`` = max(box entry,
        ``near_plane``) and ``far`` = box exit, and ``(B, R)`` bool ``hit``:
        False for rays whose clipped interval is empty (they miss the box, or
        it lies behind ``near_plane``); their ``far`` is set to ``near + 1e-6``
        so samplers stay finite, and their losses must be masked by ``hit``.
    """

    def __init__(self, scene_box: Sequence[float], near_plane: float = 0.0) -> None:
        if len(scene_box) != 6 or any(hi <= lo for lo, hi in zip(scene_box[:3], scene_box[3:])):
            raise ValueError(f'AABBCollider: scene_box must be [x_min, y_min, z_min, x_max, y_max, z_max] with '
                             f'min < max, got {list(scene_box)}')
        if near_plane < 0:
            raise ValueError(f'AABBCollider: near_plane must be >= 0, got {near_plane}')
        self.scene_box = [float(v) for v in scene_box]
        self.near_plane = float(near_plane)

    def intersect(self, origins: Tensor, directions: Tensor) -> Tuple[Tensor, Tensor]:
        """Slab test: ``(..., 3)`` origins and directions -> entry and exit distances ``(...)``."""
        lo = origins.new_tensor(self.scene_box[:3])
        hi = origins.new_tensor(self.scene_box[3:])
        safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9).copysign(directions), directions)
        t1, t2 = (lo - origins) / safe, (hi - origins) / safe
        return torch.minimum(t1, t2).amax(-1), torch.maximum(t1, t2).amin(-1)

    def __call__(self, rays: RayBundle) -> Tuple[RayBundle, Tensor]:
        t_in, t_out = self.intersect(rays.origins, rays.directions)
        near = t_in.clamp(min=self.near_plane)
        hit = t_out > near
        far = torch.where(hit, t_out, near + 1e-6)
        return rays.with_range(near, far), hit

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scene_box={self.scene_box}, near_plane={self.near_plane})'


class NearFarCollider:
    """The same ``near`` / ``far`` for every ray (every ray 'hits').

    Args:
        near_plane (float): start distance along the ray.
        far_plane (float): end distance along the ray (> ``near_plane``).
    """

    def __init__(self, near_plane: float, far_plane: float) -> None:
        if not 0 <= near_plane < far_plane:
            raise ValueError(f'NearFarCollider: need 0 <= near_plane < far_plane, got {near_plane}, {far_plane}')
        self.near_plane, self.far_plane = float(near_plane), float(far_plane)

    def __call__(self, rays: RayBundle) -> Tuple[RayBundle, Tensor]:
        near = torch.full_like(rays.depth_scale, self.near_plane)
        far = torch.full_like(rays.depth_scale, self.far_plane)
        return rays.with_range(near, far), torch.ones_like(near, dtype=torch.bool)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(near_plane={self.near_plane}, far_plane={self.far_plane})'


COLLIDERS = dict(AABBCollider=AABBCollider, NearFarCollider=NearFarCollider)
