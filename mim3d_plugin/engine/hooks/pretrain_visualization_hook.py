"""Pictures of a pretraining while it trains, through mmengine's visualizer (Local / TensorBoard / W&B backends).

Every ``interval`` training iterations the hook runs the model's ``visual_panels(inputs, data_samples)`` on the
batch just trained on (GeoMIM: masked views, student vs teacher BEV, predicted vs LiDAR depth; MIM4D: rendered RGB
and depth of the dropped frame vs targets; Mask3D: decoded vs true depth) and hands each ``(H, W, 3)`` image to
``runner.visualizer.add_image(name, image, step)``. With the default ``LocalVisBackend`` the PNGs land in
``WORK_DIR/TIMESTAMP/vis_data/vis_image/NAME_STEP.png`` (names carry no ``/``: LocalVisBackend writes no
subfolders); TensorBoard is one line in the config::

    vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
    visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')

The pictures do not change the training: the model runs in eval mode (BatchNorm statistics untouched, no
dropout) under ``torch.no_grad`` with the torch RNG forked (the same masks and ray draws follow as without the
hook, so ``--resume`` stays exact), and only on rank 0.
"""
from typing import Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class PretrainVisualizationHook(Hook):
    """Write the model's ``visual_panels`` every ``interval`` iterations.

    Args:
        interval (int): iterations between pictures. Default: 100.
        max_views (int): camera views per picture. Default: 3.
        first_iter (bool): also draw after the first iteration (what the model starts from). Default: True.
        last_iter (bool): also draw after the last iteration (what the run ends with). Default: True.

    Raises:
        TypeError: at the start of training if the model has no ``visual_panels`` method.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 100,
                 max_views: int = 3,
                 first_iter: bool = True,
                 last_iter: bool = True) -> None:
        if interval < 1:
            raise ValueError(f'PretrainVisualizationHook: interval must be >= 1, got {interval}')
        self.interval, self.max_views = int(interval), int(max_views)
        self.first_iter, self.last_iter = bool(first_iter), bool(last_iter)

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        if not callable(getattr(model, 'visual_panels', None)):
            raise TypeError(f'PretrainVisualizationHook: {type(model).__name__} has no visual_panels(inputs, '
                            f'data_samples); use the hook with a MaskedPretrainer (GeoMIM, MIM4D, Mask3D, the hybrids)')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None, outputs=None) -> None:
        step = runner.iter + 1
        if data_batch is None or not is_main_process():
            return
        if not (self.every_n_train_iters(runner, self.interval) or (self.first_iter and step == 1) or
                (self.last_iter and step == runner.max_iters)):
            return
        model = self._model(runner)
        was_training = model.training
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        try:
            model.eval()
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                data = model.data_preprocessor(data_batch, False)
                panels = model.visual_panels(data['inputs'], data['data_samples'], max_views=self.max_views)
        finally:
            model.train(was_training)
        for name, image in panels.items():
            runner.visualizer.add_image(name, image, step=step)
