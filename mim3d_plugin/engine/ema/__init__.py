from .megvii_ema import MEGVIIEMA

__all__ = ['MEGVIIEMA']
