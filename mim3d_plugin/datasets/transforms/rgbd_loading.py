"""Loading of single RGB-D frames (colour + depth in metres) for Mask3D pretraining.

Depth encodings of the common RGB-D layouts (``depth_format`` of :class:`LoadRGBDFrame`):

========== ======================================================= ======================
format     raw value -> metres                                     invalid raw value(s)
========== ======================================================= ======================
uint16     ``raw / depth_scale``; ScanNet & Redwood store mm         ``invalid_depth`` (0)
           (``depth_scale=1000``), TUM stores 1/5000 m
           (``depth_scale=5000``, TUM RGB-D benchmark file format)
sun        SUN RGB-D stores the mm value rotated left by 3 bits:     0
           ``((raw >> 3) | (raw << 13)) & 0xFFFF`` then ``/ 1000``
           (SUN RGB-D toolbox ``read3dPoints.m``; Open3D
           ``RGBDImage::CreateFromSUNFormat``)
nyu_raw    raw Kinect disparity of the NYU Depth v2 raw dumps,       result <= 0 (raw 2047)
           16-bit PGM written *little-endian* (against the Netpbm
           spec): ``351.3 / (1092.5 - raw)`` m (NYU toolbox
           ``depth_rel2depth_abs.m``; Open3D ``CreateFromNYUFormat``)
========== ======================================================= ======================

Every decoder returns float32 metres with **0 marking invalid pixels**; depths outside
``(min_depth, max_depth)`` are set to 0 as well. 0 = invalid is the project-wide convention
(``PointsToMultiViewDepth`` writes 0 where no LiDAR point lands), so every later transform
only has to keep zeros zero (nearest-neighbour resampling, no blending).
"""
import os.path as osp
import re
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

DEPTH_FORMATS = ('uint16', 'sun', 'nyu_raw')


def read_pgm16(path: str, byteorder: str = '<') -> np.ndarray:
    """Read a binary 16-bit PGM (P5) file with an explicit byte order.

    Args:
        path (str): file path.
        byteorder (str): ``'<'`` little-endian (NYU raw dumps) or ``'>'`` (Netpbm spec).

    Returns:
        np.ndarray: (H, W) uint16.

    Raises:
        ValueError: if the file is not a 16-bit binary PGM.
    """
    with open(path, 'rb') as f:
        buf = f.read()
    m = re.match(rb'P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+'
                 rb'(?:#[^\n]*\n\s*)*(\d+)\s', buf)
    if m is None:
        raise ValueError(f'{path}: not a binary PGM (P5) file')
    w, h, maxval = (int(g) for g in m.groups())
    if maxval < 256:
        raise ValueError(f'{path}: expected a 16-bit PGM (maxval >= 256), got maxval={maxval}')
    data = np.frombuffer(buf, dtype=byteorder + 'u2', count=w * h, offset=m.end())
    return data.reshape(h, w).astype(np.uint16)


def decode_depth(raw: np.ndarray,
                 depth_format: str,
                 depth_scale: float = 1000.,
                 invalid_depth: Optional[int] = 0,
                 min_depth: float = 0.,
                 max_depth: float = float('inf')) -> np.ndarray:
    """Convert a raw depth image to metres (0 = invalid).

    Args:
        raw (np.ndarray): (H, W) integer raw depth as stored on disk.
        depth_format (str): one of ``'uint16'``, ``'sun'``, ``'nyu_raw'`` (module docstring).
        depth_scale (float): raw units per metre for ``'uint16'`` (1000 = mm, 5000 = TUM).
        invalid_depth (int, optional): raw value marking missing depth (``'uint16'`` only).
        min_depth (float): metres; depths <= this are invalid.
        max_depth (float): metres; depths > this are invalid.

    Returns:
        np.ndarray: (H, W) float32 metres, 0 where invalid.
    """
    if raw.ndim != 2:
        raise ValueError(f'depth image must be single-channel (H, W), got shape {raw.shape}')
    if depth_format == 'uint16':
        if depth_scale <= 0:
            raise ValueError(f'depth_scale must be > 0 (raw units per metre), got {depth_scale}')
        depth = raw.astype(np.float32) / float(depth_scale)
        if invalid_depth is not None:
            depth[raw == invalid_depth] = 0.
    elif depth_format == 'sun':
        r = raw.astype(np.uint32)
        mm = ((r >> 3) | (r << 13)) & 0xFFFF
        depth = mm.astype(np.float32) / 1000.
    elif depth_format == 'nyu_raw':
        with np.errstate(divide='ignore'):
            depth = (351.3 / (1092.5 - raw.astype(np.float64))).astype(np.float32)
        depth[~np.isfinite(depth)] = 0.
    else:
        raise ValueError(f'unknown depth_format {depth_format!r}; expected one of {DEPTH_FORMATS}')
    depth[(depth <= min_depth) | (depth > max_depth)] = 0.
    return depth


@TRANSFORMS.register_module()
class LoadRGBDFrame(BaseTransform):
    """Load the colour image and the depth map (metres) of one RGB-D frame.

    Reads ``results['img_path']``, ``results['depth_path']`` and the per-frame depth
    convention (``depth_format``, ``depth_scale``, ``invalid_depth``; the dataset fills them
    from its config) and writes:

    - ``img``: (H, W, 3) uint8, RGB order;
    - ``depth``: (H, W) float32 metres, 0 = invalid;
    - ``img_shape`` / ``ori_shape``: (H, W).

    Args:
        min_depth (float): metres; smaller depths become invalid. Defaults to 0.
        max_depth (float): metres; larger depths become invalid (sensor range). Defaults to 10.

    Raises:
        FileNotFoundError: a listed file is missing.
        ValueError: colour and depth sizes differ, or the depth image is not single-channel.
    """

    def __init__(self, min_depth: float = 0., max_depth: float = 10.) -> None:
        self.min_depth = min_depth
        self.max_depth = max_depth

    def transform(self, results: dict) -> dict:
        img_path, depth_path = results['img_path'], results['depth_path']
        for p in (img_path, depth_path):
            if not osp.isfile(p):
                raise FileNotFoundError(f'RGB-D frame file not found: {p}')
        img = mmcv.imread(img_path, channel_order='rgb')
        if img is None:
            raise ValueError(f'{img_path}: could not decode the colour image')
        fmt = results.get('depth_format', 'uint16')
        if depth_path.lower().endswith('.pgm'):
            raw = read_pgm16(depth_path, byteorder='<' if fmt == 'nyu_raw' else '>')
        else:
            raw = mmcv.imread(depth_path, flag='unchanged')
            if raw is None:
                raise ValueError(f'{depth_path}: could not decode the depth image')
        if raw.ndim != 2:
            raise ValueError(f'{depth_path}: depth must be a single-channel image, got {raw.shape}')
        if raw.shape != img.shape[:2] and results.get('align_color_to_depth', False):
            # ScanNet exports colour at 1296x968 and depth at 640x480 with the same field of
            # view; the frame lives on the depth grid (depth intrinsics)
            img = mmcv.imresize(img, (raw.shape[1], raw.shape[0]), interpolation='bilinear')
        if raw.shape != img.shape[:2]:
            raise ValueError(f'{depth_path}: depth size {raw.shape} differs from colour size '
                             f'{img.shape[:2]} of {img_path}')
        depth = decode_depth(raw, fmt, results.get('depth_scale', 1000.), results.get('invalid_depth', 0),
                             self.min_depth, self.max_depth)
        results['img'] = img
        results['depth'] = depth
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_depth={self.min_depth}, max_depth={self.max_depth})'
