"""Whether a sparse-convolution backend runs on a device (a LiDAR teacher with a ``SparseEncoder`` needs one)."""
import torch

from .availability import compiled_op_available


def check_sparse_conv(device, what: str = 'the LiDAR teacher') -> None:
    """Raise a clear error when neither spconv nor mmcv's sparse-conv kernels run on ``device``.

    There is no PyTorch path for sparse convolution worth its cost (a dense 3D convolution over the paper teacher's
    1440 x 1440 x 41 grid needs ~5 GB per 16-channel map): on such a machine use a pillar teacher
    (``configs/_base_/models/lidar-teacher_centerpoint-pillar08_nus-mini.py``: voxelization + PointPillars scatter,
    both with PyTorch paths), or install ``spconv-cu*`` / a CUDA build of mmcv.

    Raises:
        RuntimeError: naming the device and the two ways out.
    """
    device = torch.device(device)
    if not compiled_op_available('sparse_conv', device):
        raise RuntimeError(
            f'{what}: its SparseEncoder needs sparse convolution on {device.type}, and neither spconv nor mmcv\'s '
            f'compiled sparse-conv ops run there (see the "mim3d ops: sparse_conv" log line for why). Install '
            f'spconv-cu<CUDA version> (or a CUDA build of mmcv), or use a pillar teacher '
            f'(configs/_base_/models/lidar-teacher_centerpoint-pillar08_nus-mini.py).')
