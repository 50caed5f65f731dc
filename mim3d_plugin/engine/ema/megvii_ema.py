"""The EMA of BEVDet dev2.1 / BEVDepth (``MEGVIIEMAHook`` + ``ModelEMA``) as an mmengine averaged model.

Official (HuangJunJie2017/BEVDet dev2.1 ``mmdet3d/core/hook/ema.py``; Sense-X/GeoMIM ``bevdet/``): the EMA model is a
copy of the model at the start of training, its update counter starts at ``init_updates`` (10560 in the released
configs), and every training iteration does ``updates += 1; d = decay * (1 - exp(-updates / 2000));
ema = d * ema + (1 - d) * model`` on every floating-point parameter and buffer.

mmengine's ``BaseAveragedModel`` copies the model at its first update instead of averaging; with
``init_updates=10560`` the official first update keeps 99.4 % of the initial weights, so this class averages from the
first update on. Use it with mmengine's ``EMAHook``: ``dict(type='EMAHook', ema_type='MEGVIIEMA', init_updates=10560,
update_buffers=True)``.
"""
import math
from typing import Optional

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseAveragedModel
from torch import Tensor, nn


@MODELS.register_module()
class MEGVIIEMA(BaseAveragedModel):
    """BEVDet dev2.1's ``ModelEMA``: ``d = decay * (1 - exp(-updates / gamma))``, ``updates`` from ``init_updates``.

    Args:
        model (nn.Module): the model to average (copied at construction, as the official ``deepcopy``).
        decay (float): asymptotic decay. Default: 0.999 (official ``MEGVIIEMAHook``).
        gamma (float): ramp-up constant in updates. Default: 2000.
        init_updates (int): update counter at the start (official configs: 10560). Default: 0.
        interval (int): update every ``interval`` iterations. Default: 1.
        device (torch.device, optional): device of the averaged copy.
        update_buffers (bool): average floating-point buffers too (official: the whole state dict). Default: True.

    Raises:
        ValueError: ``decay`` not in (0, 1), ``gamma`` <= 0 or ``init_updates`` < 0.
    """

    def __init__(self,
                 model: nn.Module,
                 decay: float = 0.999,
                 gamma: float = 2000.,
                 init_updates: int = 0,
                 interval: int = 1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = True) -> None:
        if not 0. < decay < 1. or gamma <= 0 or init_updates < 0:
            raise ValueError(f'MEGVIIEMA: need 0 < decay < 1, gamma > 0, init_updates >= 0; got decay={decay}, '
                             f'gamma={gamma}, init_updates={init_updates}')
        super().__init__(model, interval, device, update_buffers)
        self.decay, self.gamma, self.init_updates = float(decay), float(gamma), int(init_updates)

    def decay_at(self, steps: int) -> float:
        """Decay of the update after ``steps`` earlier updates (official ``self.updates += 1`` first)."""
        return self.decay * (1 - math.exp(-(self.init_updates + steps + 1) / self.gamma))

    def avg_func(self, averaged_param: Tensor, source_param: Tensor, steps: int) -> None:
        averaged_param.lerp_(source_param, 1 - self.decay_at(steps))

    def update_parameters(self, model: nn.Module) -> None:
        """Average ``model`` into the copy; unlike mmengine's base class the first update averages too."""
        src = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if self.steps % self.interval == 0:
            for k, p_avg in self.avg_parameters.items():
                if p_avg.dtype.is_floating_point:
                    self.avg_func(p_avg.data, src[k].data.to(p_avg.device), self.steps)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
        self.steps += 1
