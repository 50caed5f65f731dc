"""Write derived occupancy labels (Occ3D-nuScenes layout, **not Occ3D**: see
``mim3d_plugin/datasets/converters/occ_labels.py``) for the key frames of a nuScenes root.

Usage::

    python tools/create_occ_labels.py --root-path ../shared/data/nuscenes --version v1.0-mini \
        --out-dir data/occ_derived [--scenes scene-0916]

then read them with ``dict(type='LoadOcc3DLabels', occ_root='data/occ_derived')`` and score with ``Occ3DMetric``.
About 9 s per key frame on 2 CPU cores (ray casting of the six cameras).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root-path', required=True)
    p.add_argument('--version', default='v1.0-mini')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--scenes', nargs='+', help='scene names (default: every scene of the version)')
    args = p.parse_args(argv)
    from nuscenes import NuScenes

    from mim3d_plugin.datasets.converters.occ_labels import derive_scene_occupancy
    nusc = NuScenes(args.version, args.root_path, verbose=False)
    names = args.scenes or [s['name'] for s in nusc.scene]
    total = 0
    for name in names:
        t0 = time.time()
        written = derive_scene_occupancy(nusc, name, args.out_dir)
        total += len(written)
        print(
            f'create_occ_labels: {name}: {len(written)} frames in {time.time() - t0:.0f} s -> '
            f'{osp.join(args.out_dir, "gts", name)}',
            flush=True)
    return total


if __name__ == '__main__':
    main()
