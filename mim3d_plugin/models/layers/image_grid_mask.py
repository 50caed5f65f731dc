"""GridMask image augmentation applied inside the detector (BEVFormer / DETR3D recipe), registered as ``ImageGridMask``
(mmdet3d's TPVFormer project registers ``GridMask`` in the same registry)."""
from typing import Optional

import torch
from mmdet3d.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class ImageGridMask(nn.Module):
    """Zero (or keep) a random rotated grid of square blocks in every image during training.

    GridMask (Chen et al., 2020, https://arxiv.org/abs/2001.04086) as used by
    DETR3D/BEVFormer (``models/utils/grid_mask.py`` of fundamentalvision/BEVFormer),
    vectorised: one mask per call, shared by the batch, generated with torch
    on the input's device (no numpy/PIL round trip).

    Args:
        use_h (bool): mask horizontal stripes. Default: True.
        use_w (bool): mask vertical stripes. Default: True.
        rotate (int): the grid is rotated by a random angle in
            ``[0, rotate)`` degrees. Default: 1.
        offset (bool): fill masked pixels with noise instead of 0. Default: False.
        ratio (float): fraction of each grid period that is masked. Default: 0.5.
        mode (int): 0 masks the blocks, 1 keeps only the blocks. Default: 1.
        prob (float): probability of applying the mask. Default: 0.7.
    """

    def __init__(self,
                 use_h: bool = True,
                 use_w: bool = True,
                 rotate: int = 1,
                 offset: bool = False,
                 ratio: float = 0.5,
                 mode: int = 1,
                 prob: float = 0.7) -> None:
        super().__init__()
        if not 0 < ratio < 1:
            raise ValueError(f'ImageGridMask: ratio must be in (0, 1), got {ratio}')
        if mode not in (0, 1):
            raise ValueError(f'ImageGridMask: mode must be 0 or 1, got {mode}')
        self.use_h, self.use_w, self.rotate, self.offset = use_h, use_w, rotate, offset
        self.ratio, self.mode, self.prob = ratio, mode, prob

    def make_mask(self, h: int, w: int, device=None, generator: Optional[torch.Generator] = None) -> Tensor:
        """``(H, W)`` float mask, 1 = keep."""
        hh = int(1.5 * h)
        ww = int(1.5 * w)
        period = int(torch.randint(2, max(3, min(h, w)), (1, ), generator=generator))
        length = min(max(int(period * self.ratio + 0.5), 1), period - 1)
        sy, sx = torch.randint(0, period, (2, ), generator=generator).tolist()
        angle = torch.rand((), generator=generator) * self.rotate * torch.pi / 180
        # coordinates of the output pixels in the (1.5x larger) unrotated grid frame
        ys = torch.arange(h, device=device, dtype=torch.float32) - (h - 1) / 2
        xs = torch.arange(w, device=device, dtype=torch.float32) - (w - 1) / 2
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        c, s = torch.cos(angle).item(), torch.sin(angle).item()
        gx = c * xx + s * yy + (ww - 1) / 2
        gy = -s * xx + c * yy + (hh - 1) / 2
        masked = torch.zeros(h, w, dtype=torch.bool, device=device)
        if self.use_h:
            masked |= torch.remainder(gy.floor() - sy, period) < length
        if self.use_w:
            masked |= torch.remainder(gx.floor() - sx, period) < length
        keep = ~masked if self.mode == 0 else masked
        return keep.float()

    def forward(self, x: Tensor) -> Tensor:
        """Args: x (Tensor): ``(B, C, H, W)`` images. Returns the masked images (unchanged in eval mode)."""
        if not self.training or torch.rand(()) > self.prob:
            return x
        h, w = x.shape[-2:]
        mask = self.make_mask(h, w, device=x.device).to(x.dtype)
        if self.offset:
            noise = (2 * (torch.rand(h, w, device=x.device) - 0.5)).to(x.dtype)
            return x * mask + noise * (1 - mask)
        return x * mask
