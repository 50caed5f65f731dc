"""Prepare, on a machine with the package index, the folder the offline GPU check carries (under 64 MiB).

Writes ``OUT/wheels/`` (the cp312 wheels of ``requirements-gpu-image.txt``, ``pip download --no-deps``),
``OUT/nuscenes/`` (the camera images and LiDAR sweeps of the first ``--samples`` key frames of each bundled split)
and ``OUT/nuscenes_infos/`` (the info files cut to those frames, ``data_list`` order kept, so that the multi-frame
configs find their neighbours), then prints the folder's size. Refuses to finish above ``--max-mib``.

Usage (repository root; the info files from ``tools/create_data.py``)::

    python tools/gpu_check/prepare_bundle.py --nus-root ../shared/data/nuscenes \
        --info-dir data/nuscenes_infos --out .gpu_bundle

then, on the GPU machine: ``bash tools/gpu_check/run.sh .gpu_bundle OUT_DIR`` (see docs/benchmarks/gpu.md).
"""
import argparse
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))
PLATFORMS = [
    'manylinux_2_28_x86_64', 'manylinux_2_24_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64',
    'manylinux1_x86_64', 'any'
]


def requirements():
    with open(osp.join(HERE, 'requirements-gpu-image.txt')) as f:
        return [ln.split('#')[0].strip() for ln in f if ln.split('#')[0].strip()]


def download_wheels(out):
    cmd = [
        sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--python-version', '3.12',
        '--implementation', 'cp', '-d', out, '-q'
    ]
    for p in PLATFORMS:
        cmd += ['--platform', p]
    subprocess.run(cmd + requirements(), check=True)


def cut_infos(info_dir, nus_root, out, samples):
    os.makedirs(osp.join(out, 'nuscenes_infos'), exist_ok=True)
    copied = 0
    for split in ('train', 'val'):
        path = osp.join(info_dir, f'nuscenes_infos_{split}.pkl')
        with open(path, 'rb') as f:
            infos = pickle.load(f)
        infos['data_list'] = infos['data_list'][:samples]
        with open(osp.join(out, 'nuscenes_infos', f'nuscenes_infos_{split}.pkl'), 'wb') as f:
            pickle.dump(infos, f)
        for info in infos['data_list']:
            files = [('LIDAR_TOP', info['lidar_points']['lidar_path'])]
            files += [(cam, image['img_path']) for cam, image in info['images'].items() if image.get('img_path')]
            for folder, name in files:
                src = osp.join(nus_root, 'samples', folder, osp.basename(name))
                if not osp.isfile(src):
                    raise FileNotFoundError(f'prepare_bundle: {src} (frame {info["token"]}, {folder}) is missing')
                dst = osp.join(out, 'nuscenes', 'samples', folder, osp.basename(name))
                os.makedirs(osp.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)
                copied += 1
    return copied


def folder_mib(path):
    return sum(osp.getsize(osp.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--nus-root', required=True)
    p.add_argument('--info-dir', required=True)
    p.add_argument('--out', default='.gpu_bundle')
    p.add_argument('--samples', type=int, default=4, help='key frames kept per split')
    p.add_argument('--max-mib', type=float, default=60.0)
    p.add_argument('--no-wheels', action='store_true', help='data only (tests)')
    args = p.parse_args(argv)
    if osp.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    if not args.no_wheels:
        download_wheels(osp.join(args.out, 'wheels'))
    files = cut_infos(args.info_dir, args.nus_root, args.out, args.samples)
    size = folder_mib(args.out)
    wheels = folder_mib(osp.join(args.out, 'wheels')) if not args.no_wheels else 0.0
    print(f'prepare_bundle: {args.out}: {size:.1f} MiB ({wheels:.1f} MiB wheels, {files} data files)')
    if size > args.max_mib:
        raise SystemExit(f'prepare_bundle: {size:.1f} MiB is above --max-mib {args.max_mib}')
    return size


if __name__ == '__main__':
    main()
