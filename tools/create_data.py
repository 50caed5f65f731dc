"""Create dataset info files (mmdet3d 1.x v2 format).

Example::

    python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
        --version v1.0-mini --out-dir data/nuscenes_infos

Info files of mmdet3d's own converter work for the single-frame configs as they are; for the temporal ones
(MIM4D, BEVDet4D, BEVFormer) add the scene / prev / next links (and per-camera ego poses, camera sweeps) in
place instead of regenerating::

    python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval \
        --update-infos data/nuscenes/nuscenes_infos_train.pkl data/nuscenes/nuscenes_infos_val.pkl

The conversion itself lives in ``mim3d_plugin.datasets.converters``.
"""
import argparse
import logging

from mim3d_plugin.datasets.converters import create_nuscenes_infos, update_infos


def _scene_list(text: str):
    return [s for s in text.split(',') if s] if text is not None else None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Create info files of a dataset')
    parser.add_argument('dataset', choices=['nuscenes'], help='name of the dataset')
    parser.add_argument('--root-path', required=True, help='dataset root (holds samples/ and the version tables)')
    parser.add_argument('--version', default='v1.0-trainval', help='table version, e.g. v1.0-mini')
    parser.add_argument('--out-dir', help='folder for the info files (not with --update-infos)')
    parser.add_argument(
        '--update-infos',
        nargs='+',
        metavar='FILE',
        help='add the temporal fields to existing v2 info files (e.g. mmdet3d\'s) in place')
    parser.add_argument('--extra-tag', default='nuscenes', help='info file name prefix')
    parser.add_argument('--max-sweeps', type=int, default=10, help='LiDAR sweeps looked up per key frame')
    parser.add_argument(
        '--max-cam-sweeps', type=int, default=10, help='camera sweeps recorded per key frame and camera (cam_sweeps)')
    parser.add_argument(
        '--train-scenes',
        type=_scene_list,
        default=None,
        help='comma-separated scene names overriding the official train split')
    parser.add_argument(
        '--val-scenes',
        type=_scene_list,
        default=None,
        help='comma-separated scene names overriding the official val split')
    parser.add_argument(
        '--can-bus-root',
        default=None,
        help='folder holding the nuScenes CAN-bus expansion can_bus/ (default: --root-path when it '
        'has one; else the 9 CAN values of the BEVFormer can_bus vector are 0)')
    args = parser.parse_args(argv)
    if (args.out_dir is None) == (args.update_infos is None):
        parser.error('give either --out-dir (create info files) or --update-infos FILE ... (update them)')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    if args.update_infos:
        written = {
            path: update_infos(path, args.root_path, args.version, max_cam_sweeps=args.max_cam_sweeps)
            for path in args.update_infos
        }
        for path in written.values():
            print(f'updated: {path}')
        return written
    written = create_nuscenes_infos(
        args.root_path,
        args.version,
        args.out_dir,
        info_prefix=args.extra_tag,
        train_scenes=args.train_scenes,
        val_scenes=args.val_scenes,
        max_sweeps=args.max_sweeps,
        max_cam_sweeps=args.max_cam_sweeps,
        can_bus_root=args.can_bus_root)
    for split, path in written.items():
        print(f'{split}: {path}')
    return written


if __name__ == '__main__':
    main()
