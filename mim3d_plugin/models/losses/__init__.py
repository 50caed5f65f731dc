from .patch_norm_mse_loss import PatchNormMSELoss, patch_normalize

__all__ = ['PatchNormMSELoss', 'patch_normalize']
