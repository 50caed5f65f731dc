"""Log every training step that the fp16 loss scaler skipped (issue 25, item 2)."""
from typing import Optional

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook


@HOOKS.register_module()
class LossScaleSkipHook(Hook):
    """Warn when ``AmpOptimWrapper``'s ``GradScaler`` skips an optimizer step (inf / NaN gradients), which torch does
    silently: it only lowers the loss scale. The count goes to the message hub as ``train/amp_skipped_steps`` (logged
    with the losses) and a warning names the iteration and the scales. A run whose every step is skipped trains
    nothing while its loss looks alive; this makes that visible.

    Reads the scale before and after each step (``GradScaler.get_scale()``: one host sync per step, only when a loss
    scaler is enabled). Nothing happens for optimizer wrappers without a loss scaler.

    Args:
        warn_every (int): after the first 10 skipped steps, warn only for every ``warn_every``-th. Default: 100.
    """
    priority = 'LOW'

    def __init__(self, warn_every: int = 100) -> None:
        self.warn_every = warn_every
        self.skipped = 0
        self._scale: Optional[float] = None

    @staticmethod
    def _scaler(runner):
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is None or not getattr(scaler, 'is_enabled', lambda: False)():
            return None
        return scaler

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        scaler = self._scaler(runner)
        self._scale = float(scaler.get_scale()) if scaler is not None else None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._scale is None:
            return
        new = float(self._scaler(runner).get_scale())
        if new < self._scale:
            self.skipped += 1
            runner.message_hub.update_scalar('train/amp_skipped_steps', self.skipped)
            if self.skipped <= 10 or self.skipped % self.warn_every == 0:
                runner.logger.warning(f'LossScaleSkipHook: iteration {runner.iter + 1}: optimizer step skipped '
                                      f'(inf/NaN gradients), loss scale {self._scale:g} -> {new:g}; '
                                      f'{self.skipped} steps skipped so far')
