"""nuScenes multi-view dataset that attaches the earlier key frames of each sample (MIM4D clips)."""
from typing import Optional

from mmdet3d.registry import DATASETS

from .nuscenes_multiview_dataset import NuScenesMultiViewDataset


@DATASETS.register_module()
class NuScenesMultiFrameDataset(NuScenesMultiViewDataset):
    """:class:`NuScenesMultiViewDataset` whose samples carry ``prev_frames``.

    ``results['prev_frames']`` lists the infos of the key frames ``T, T-1, ..., 1``
    steps earlier in the same scene (oldest first), from
    :meth:`NuScenesMultiViewDataset.get_adjacent_info`; at a scene start the
    missing ones repeat the earliest available frame (the current one for the
    first frame of a scene) and carry ``adjacent_fallback=True``. Key frames are
    0.5 s apart; sweeps are not used. Consumed by
    :class:`mim3d_plugin.datasets.transforms.MultiFrameMultiView`.

    Args:
        num_prev_frames (int): ``T`` >= 1. Default: 2.
        Other args: see :class:`NuScenesMultiViewDataset`.
    """

    def __init__(self, *args, num_prev_frames: int = 2, **kwargs) -> None:
        if num_prev_frames < 1:
            raise ValueError(f'NuScenesMultiFrameDataset: num_prev_frames must be >= 1, got {num_prev_frames}')
        self.num_prev_frames = num_prev_frames
        super().__init__(*args, **kwargs)

    def prepare_data(self, index: int) -> Optional[dict]:
        """mmdet3d ``Det3DDataset.prepare_data`` with ``prev_frames`` added before the pipeline."""
        input_dict = self.get_data_info(index)  # a copy (mmengine BaseDataset)
        input_dict['box_type_3d'] = self.box_type_3d
        input_dict['box_mode_3d'] = self.box_mode_3d
        input_dict['prev_frames'] = [self.get_adjacent_info(index, -k) for k in range(self.num_prev_frames, 0, -1)]
        if not self.test_mode and self.filter_empty_gt and len(input_dict['ann_info']['gt_labels_3d']) == 0:
            return None
        example = self.pipeline(input_dict)
        if not self.test_mode and self.filter_empty_gt and (
                example is None or len(example['data_samples'].gt_instances_3d.labels_3d) == 0):
            return None
        return example
