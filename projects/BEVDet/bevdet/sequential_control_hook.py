"""The first epochs of BEVDet4D training without the adjacent frames (official BEVDet dev2.1
``mmdet3d/core/hook/sequentialsontrol.py`` ``SequentialControlHook``)."""
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class SequentialControlHook(Hook):
    """Switch ``with_prev`` of a :class:`BEVDet4D`: off when training starts, on from the first epoch whose index
    (0-based, ``runner.epoch`` in ``before_train_epoch``) is greater than ``temporal_start_epoch``, as the official
    (``runner.epoch > temporal_start_epoch``: with the released configs' 2, epochs 0-2 see zeros for the adjacent
    frames, epoch 3 onwards the frames). Unlike the official (whose in-training evaluation keeps the training flag),
    validation and test run with the adjacent frames, as the model is used; the training flag is restored after.

    Args:
        temporal_start_epoch (int): see above. Default: 1 (the official default; its BEVDet4D configs set 2).

    Raises:
        TypeError: the model has no ``with_prev`` (not a BEVDet4D).
    """
    priority = 'NORMAL'

    def __init__(self, temporal_start_epoch: int = 1) -> None:
        if temporal_start_epoch < 0:
            raise ValueError(f'SequentialControlHook: temporal_start_epoch must be >= 0, got {temporal_start_epoch}')
        self.temporal_start_epoch = int(temporal_start_epoch)
        self._train_flag = None

    @staticmethod
    def _model(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'with_prev'):
            raise TypeError(f'SequentialControlHook: {type(model).__name__} has no with_prev (use it with BEVDet4D)')
        return model

    def before_train(self, runner) -> None:
        self._model(runner).with_prev = False

    def before_train_epoch(self, runner) -> None:
        if runner.epoch > self.temporal_start_epoch:
            self._model(runner).with_prev = True

    def before_val_epoch(self, runner) -> None:
        model = self._model(runner)
        self._train_flag, model.with_prev = model.with_prev, True

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._train_flag is not None:
            self._model(runner).with_prev, self._train_flag = self._train_flag, None

    def before_test_epoch(self, runner) -> None:
        self._model(runner).with_prev = True
