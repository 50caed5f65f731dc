"""Create dataset info files (mmdet3d 1.x v2 format).

Example::

    python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
        --version v1.0-mini --out-dir data/nuscenes_infos

The conversion itself lives in ``mim3d_plugin.datasets.converters``.
"""
import argparse
import logging

from mim3d_plugin.datasets.converters import create_nuscenes_infos


def _scene_list(text: str):
    return [s for s in text.split(',') if s] if text is not None else None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Create info files of a dataset')
    parser.add_argument('dataset', choices=['nuscenes'], help='name of the dataset')
    parser.add_argument('--root-path', required=True, help='dataset root (holds samples/ and the version tables)')
    parser.add_argument('--version', default='v1.0-trainval', help='table version, e.g. v1.0-mini')
    parser.add_argument('--out-dir', required=True, help='folder for the info files')
    parser.add_argument('--extra-tag', default='nuscenes', help='info file name prefix')
    parser.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps looked up per key frame')
    parser.add_argument('--max-cam-sweeps', type=int, default=10,
                        help='camera sweeps recorded per key frame and camera (cam_sweeps)')
    parser.add_argument('--train-scenes', type=_scene_list, default=None,
                        help='comma-separated scene names overriding the official train split')
    parser.add_argument('--val-scenes', type=_scene_list, default=None,
                        help='comma-separated scene names overriding the official val split')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    written = create_nuscenes_infos(args.root_path, args.version, args.out_dir, info_prefix=args.extra_tag,
                                    train_scenes=args.train_scenes, val_scenes=args.val_scenes,
                                    max_sweeps=args.max_sweeps, max_cam_sweeps=args.max_cam_sweeps)
    for split, path in written.items():
        print(f'{split}: {path}')
    return written


if __name__ == '__main__':
    main()
