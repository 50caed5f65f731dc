"""Tests of the RGB-D depth decoders and LoadRGBDFrame (synthetic files + bundled real frames)."""
import os.path as osp

import mmcv
import numpy as np
import pytest

from mim3d_plugin.datasets.transforms.rgbd_loading import LoadRGBDFrame, decode_depth, read_pgm16

RGBD = osp.join(osp.dirname(__file__), '../../../../shared/data/rgbd')
needs_data = pytest.mark.skipif(not osp.isdir(RGBD), reason='../shared/data/rgbd is absent')


def test_decode_uint16_scale_and_invalid():
    raw = np.array([[0, 1000], [5000, 65535]], dtype=np.uint16)
    mm = decode_depth(raw, 'uint16', depth_scale=1000.)
    np.testing.assert_allclose(mm, [[0, 1.], [5., 65.535]])
    tum = decode_depth(raw, 'uint16', depth_scale=5000., max_depth=10.)
    np.testing.assert_allclose(tum, [[0, 0.2], [1., 0.]])  # 13.1 m > max_depth -> invalid
    custom = decode_depth(raw, 'uint16', depth_scale=1000., invalid_depth=65535)
    assert custom[1, 1] == 0 and custom[0, 0] == 0


def test_decode_sun_bit_rotation():
    mm = np.array([[1234, 0]], dtype=np.uint32)
    stored = (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)  # SUN RGB-D on-disk format
    np.testing.assert_allclose(decode_depth(stored, 'sun'), [[1.234, 0.]], rtol=1e-6)


def test_decode_nyu_raw_disparity():
    raw = np.array([[1092.5 - 351.3, 2047]], dtype=np.float64).round().astype(np.uint16)
    d = decode_depth(raw, 'nyu_raw')
    assert d[0, 0] == pytest.approx(351.3 / (1092.5 - raw[0, 0]), rel=1e-6)
    assert d[0, 1] == 0  # 2047 = no measurement -> negative depth -> invalid


def test_bad_inputs_raise(tmp_path):
    with pytest.raises(ValueError, match='depth_format'):
        decode_depth(np.zeros((2, 2), np.uint16), 'kinect')
    with pytest.raises(ValueError, match='single-channel'):
        decode_depth(np.zeros((2, 2, 3), np.uint16), 'uint16')
    with pytest.raises(FileNotFoundError, match='not found'):
        LoadRGBDFrame()(dict(img_path=str(tmp_path / 'a.jpg'), depth_path=str(tmp_path / 'missing.png')))


def test_pgm_little_endian_and_size_check(tmp_path):
    data = np.array([[1, 2, 3], [256, 1000, 2047]], dtype='<u2')
    p = tmp_path / 'd.pgm'
    p.write_bytes(b'P5\n# comment\n3 2\n65535\n' + data.tobytes())
    np.testing.assert_array_equal(read_pgm16(str(p), '<'), data)
    img = np.zeros((4, 4, 3), np.uint8)
    mmcv.imwrite(img, str(tmp_path / 'c.png'))
    with pytest.raises(ValueError, match='differs'):
        LoadRGBDFrame()(dict(img_path=str(tmp_path / 'c.png'), depth_path=str(p), depth_format='nyu_raw'))


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize('name,fmt,scale,median', [
    ('TUM', 'uint16', 5000., (1.5, 4.0)),
    ('NYU', 'nyu_raw', 1000., (1.5, 5.0)),
    ('SUN', 'sun', 1000., (1.5, 5.0)),
])
def test_real_other_formats_are_plausible_metres(name, fmt, scale, median):
    ext = {'TUM': ('png', 'png'), 'NYU': ('ppm', 'pgm'), 'SUN': ('jpg', 'png')}[name]
    res = LoadRGBDFrame()(
        dict(
            img_path=osp.join(RGBD, 'other_formats', f'{name}_color.{ext[0]}'),
            depth_path=osp.join(RGBD, 'other_formats', f'{name}_depth.{ext[1]}'),
            depth_format=fmt,
            depth_scale=scale))
    d = res['depth']
    assert res['img'].shape == (480, 640, 3) and d.shape == (480, 640) and d.dtype == np.float32
    valid = d > 0
    assert 0.5 < valid.mean() < 1.0  # indoor Kinect-style frames: most pixels measured
    assert median[0] < np.median(d[valid]) < median[1]
    assert d.max() <= 10.0
