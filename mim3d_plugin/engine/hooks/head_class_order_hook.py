"""Fail fast when a multi-task head's class order and the dataset's class order disagree.

mmdet3d's ``CenterHead`` routes ground truth to its task heads by label index: label ``i`` of the dataset is
trained as the ``i``-th class of the concatenated ``tasks`` class lists (``get_targets_single``) and decoded
back the same way. When the dataset lists its classes in another order (e.g. mmdet3d's nuScenes order
``car, truck, trailer, bus, ...`` against BEVDet's tasks ``car | truck, construction_vehicle | bus, trailer |
...``), 6 of 10 heatmap channels silently learn another class while evaluated names still look right.
"""
from typing import Optional, Sequence

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


def head_class_names(model) -> Optional[list]:
    """The concatenated task class names of ``model.pts_bbox_head`` (CenterHead-like), or None without tasks."""
    head = getattr(model, 'pts_bbox_head', None)
    names = getattr(head, 'class_names', None)
    if not names or not isinstance(names[0], (list, tuple)):
        return None
    return [n for task in names for n in task]


def check_head_class_order(model, dataset_classes: Sequence[str], what: str = 'dataset') -> None:
    """Raise if the head's concatenated task classes differ from ``dataset_classes``.

    Raises:
        ValueError: naming both orders and the config fields to change.
    """
    names = head_class_names(model)
    if names is None:
        return
    classes = list(dataset_classes)
    if names != classes:
        raise ValueError(
            f'model.pts_bbox_head.tasks concatenate to the classes {names}, but the {what} orders its classes as '
            f'{classes}. CenterHead trains dataset label i as the i-th class of the concatenated tasks, so the '
            f'orders must be equal: set the dataset metainfo=dict(classes=[...]) to the task order (mmdet3d '
            f'remaps the info-file labels), or reorder model.pts_bbox_head.tasks')


@HOOKS.register_module()
class HeadClassOrderHook(Hook):
    """Check :func:`check_head_class_order` against the train / val / test dataset before each loop runs."""

    priority = 'VERY_HIGH'

    def _check(self, runner, loop_name: str) -> None:
        loop = getattr(runner, f'{loop_name}_loop', None)
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        if dataset is None or 'classes' not in getattr(dataset, 'metainfo', {}):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        check_head_class_order(model, dataset.metainfo['classes'], f'{loop_name} dataset ({type(dataset).__name__})')

    def before_train(self, runner) -> None:
        self._check(runner, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, 'test')
