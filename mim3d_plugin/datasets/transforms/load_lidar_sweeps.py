"""LiDAR sweeps for a LiDAR teacher, in the format the teacher was trained on (mmdet3d nuScenes detectors).

mmdet3d's nuScenes LiDAR detectors (CenterPoint, TransFusion-L / BEVFusion-L, the GeoMIM teacher) are trained
on the key frame + 9 sweeps with column 4 = time lag (s; 0 for the key frame):
``LoadPointsFromFile(load_dim=5, use_dim=5)`` + ``LoadPointsFromMultiSweeps(sweeps_num=9,
use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True)``. A raw nuScenes ``.pcd.bin`` stores the
ring index (0-31) in column 4; feeding it as time is out of distribution for such a teacher. This transform is
mmdet3d's ``LoadPointsFromMultiSweeps`` (which sets the key frame's column 4 to 0 and appends the sweeps,
motion-compensated, with their time lag) plus one warning when frames have fewer sweeps than ``sweeps_num``
(their files are missing: the info converter records only sweeps whose file exists), so a run on incomplete
data says so instead of silently training on sparser input. Put it before ``PointsToMultiViewDepth`` to build the
depth targets from the same key frame + sweeps (official GeoMIM: ``depth_lss_gt.py`` projects the points its
``LoadPointsFromMultiSweeps`` loaded); ``PointsToMultiViewDepth(max_time_lag=0)`` keeps the key frame only.
"""
from mmdet3d.datasets.transforms import LoadPointsFromMultiSweeps
from mmdet3d.registry import TRANSFORMS
from mmengine.logging import MMLogger


@TRANSFORMS.register_module()
class LoadLiDARSweeps(LoadPointsFromMultiSweeps):
    """mmdet3d ``LoadPointsFromMultiSweeps`` with a one-time warning for frames with missing sweeps.

    Args: see mmdet3d ``LoadPointsFromMultiSweeps`` (``sweeps_num`` 9 for the nuScenes teachers).

    Adds ``results['num_lidar_sweeps']`` (int): sweeps actually appended.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._warned = False

    def transform(self, results: dict) -> dict:
        available = len(results.get('lidar_sweeps', []) or [])
        results = super().transform(results)
        results['num_lidar_sweeps'] = min(available, self.sweeps_num)
        if available < self.sweeps_num and not self._warned:
            self._warned = True
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: frame {results.get("token", results.get("sample_idx"))} '
                f'({results.get("lidar_path")}) has {available} of sweeps_num={self.sweeps_num} LiDAR sweeps in its '
                f'info (the converter skips sweeps whose file is missing); such frames give the LiDAR teacher the '
                f'key frame (time lag 0) plus only the sweeps present. This warning is shown once.')
        return results
