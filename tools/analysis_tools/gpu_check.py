"""GPU check: speed, memory and model FLOP utilisation of every paper-scale pretraining and detector config.

On a CUDA machine, runs ``tools/analysis_tools/benchmark.py`` on each config of ``CONFIGS`` with mixed precision
(mmengine ``AmpOptimWrapper``, ``--dtype`` bfloat16 or float16) and writes ``docs/benchmarks/gpu.md`` (+ ``.json``):
iteration time, samples/s, peak memory and MFU = achieved model FLOP/s / the GPU's dense peak of that dtype
(``PEAK_TFLOPS``; unknown GPUs: the measured fp32 matmul throughput is reported instead). A failing config is
recorded with its error and the others still run.

The configs' own data are used (full nuScenes under ``data/nuscenes``). ``--nus-root`` / ``--info-dir`` point
every dataset of the configs at another nuScenes root and info files instead (e.g. the frames of the offline bundle:
the speed of a paper-scale model does not depend on which frames it reads).

Offline (no download): every checkpoint or URL a config would load is dropped (random init; the row says so), and a
voxel LiDAR teacher (``SparseEncoder``) whose sparse convolution cannot run on the device (no spconv-cu, no CUDA
build of mmcv: the offline bundle) is replaced by a pillar teacher with the same target shape (PointPillars over the
same range, a 256-channel SECOND stage at the sparse encoder's 180 x 180 BEV grid); the row says so. Everything is
written under ``--out`` (``OUT.json``, ``OUT.md``) and a temporary folder.

Usage (under a minute per config on one H100/H200; ``tools/gpu_check/run.sh`` runs it offline)::

    python tools/analysis_tools/gpu_check.py --out OUT [--dtype bfloat16] [--iters 10] \
        [--nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos] [--configs ...] [--device cpu]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:  # the projects.* custom imports of the projects' configs
    sys.path.insert(0, ROOT)
CONFIGS = [
    'configs/geomim/geomim_swin-b_16xb2-50e_nus.py',
    'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py',
    'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py',
    'configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py',
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
    'projects/BEVFormer/configs/bevformer-base_r101-dcn_8xb1-24e_nus.py',
    'projects/BEVDet/configs/bevstereo4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
    'projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py',
]
# dense (no sparsity) tensor-core peaks, TFLOP/s, from the vendors' data sheets
PEAK_TFLOPS = {
    'H200': dict(bfloat16=989.0, float16=989.0),
    'H100 80GB HBM3': dict(bfloat16=989.0, float16=989.0),  # SXM
    'H100 PCIe': dict(bfloat16=756.0, float16=756.0),
    'H100': dict(bfloat16=989.0, float16=989.0),
    'A100': dict(bfloat16=312.0, float16=312.0),
    'L40S': dict(bfloat16=362.0, float16=362.0),
}


def peak_tflops(device_name: str, dtype: str):
    for key, peaks in PEAK_TFLOPS.items():  # most specific names first
        if key in device_name:
            return peaks[dtype]
    return None


def pillar_teacher(teacher: dict, channels: int) -> dict:
    """A PointPillars CenterPoint up to a SECOND stage with the voxel teacher's BEV target shape (``channels`` x the
    sparse encoder's grid / 8), over the same point-cloud range; the stage returned is that SECOND stage."""
    detector = teacher['detector']
    layer = detector['data_preprocessor']['voxel_layer']
    pcr = list(layer['point_cloud_range'])
    shape = detector['pts_middle_encoder']['sparse_shape']  # (z, y, x) voxels; the encoder's output stride is 8
    grid = (shape[1] // 8, shape[2] // 8)
    pillar = [(pcr[3] - pcr[0]) / grid[1], (pcr[4] - pcr[1]) / grid[0], pcr[5] - pcr[2]]
    pillars = dict(
        type='CenterPoint',
        data_preprocessor=dict(
            type='PortableDet3DDataPreprocessor',
            voxel=True,
            voxel_layer=dict(max_num_points=20, voxel_size=pillar, max_voxels=(30000, 40000), point_cloud_range=pcr)),
        pts_voxel_encoder=dict(
            type='PillarFeatureNet',
            in_channels=5,
            feat_channels=[64],
            with_distance=False,
            voxel_size=pillar,
            point_cloud_range=pcr,
            norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
            legacy=False),
        pts_middle_encoder=dict(type='PointPillarsScatter', in_channels=64, output_shape=grid),
        pts_backbone=dict(
            type='SECOND',
            in_channels=64,
            out_channels=[channels],
            layer_nums=[3],
            layer_strides=[1],
            norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
            conv_cfg=dict(type='Conv2d', bias=False)))
    return dict(type='LiDARBEVTeacher', detector=pillars, stage='pts_backbone', out_level=0, checkpoint=None)


def pillar_teacher_where_no_sparse_conv(cfg, device: str):
    """Replace every ``SparseEncoder`` LiDAR teacher of ``cfg`` by :func:`pillar_teacher` when sparse convolution
    does not run on ``device``; returns the notes to print."""
    from mim3d_plugin.ops import compiled_op_available
    notes = []
    for name, head in (cfg.model.get('heads') or {}).items():
        teacher = (head or {}).get('teacher')
        if not teacher or teacher['detector'].get('pts_middle_encoder', {}).get('type') != 'SparseEncoder':
            continue
        if compiled_op_available('sparse_conv', device):
            continue
        head['teacher'] = pillar_teacher(teacher.to_dict() if hasattr(teacher, 'to_dict') else teacher,
                                         head.get('teacher_channels', 256))
        head['allow_untrained_teacher'] = True
        notes.append(f'heads.{name}: voxel teacher -> pillar teacher (no sparse conv on {device})')
    return notes


def main(argv=None):
    p = argparse.ArgumentParser(description='benchmark.py on every paper-scale config, on a GPU')
    p.add_argument('--configs', nargs='+', default=CONFIGS)
    p.add_argument('--dtype', choices=['bfloat16', 'float16'], default='bfloat16')
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--nus-root', help='nuScenes root to read instead of the configs\' data/nuscenes')
    p.add_argument('--info-dir', help='info files to read instead of the configs\' ones (with --nus-root)')
    p.add_argument('--out', required=True, help='path prefix of the results: OUT.json and OUT.md')
    p.add_argument('--timeout', type=int, default=300, help='seconds per config')
    p.add_argument('--device', default='cuda', help="'cpu': check the plumbing without a GPU (no MFU)")
    args = p.parse_args(argv)

    import torch
    from mmengine.config import Config

    from mim3d_plugin.datasets.retarget import retarget_data
    from mim3d_plugin.testing import drop_file_loads
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('gpu_check: no CUDA device; the GPU figures stay unmeasured (run this on a GPU machine)')
    device = torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu'
    peak = peak_tflops(device, args.dtype)
    rows = []
    tmp = tempfile.mkdtemp(prefix='gpu_check_')
    for path in args.configs:
        t0 = time.time()
        row = dict(config=path)
        try:
            cfg = Config.fromfile(osp.join(ROOT, path))
            if args.nus_root:
                retarget_data(cfg, args.nus_root, args.info_dir or 'data/nuscenes_infos')
            if args.device == 'cuda':
                cfg.optim_wrapper.type = 'AmpOptimWrapper'
                cfg.optim_wrapper.dtype = args.dtype
            elif cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':  # mmengine's needs a GPU: bf16 autocast on CPU
                cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
                cfg.optim_wrapper.dtype = 'bfloat16'
                cfg.optim_wrapper.pop('loss_scale', None)
            # speed only: nothing is downloaded or read from a checkpoint on an offline machine
            notes = []
            before = cfg.pretty_text
            drop_file_loads(cfg._cfg_dict)
            if cfg.pretty_text != before:
                notes.append('random init (checkpoint / URL loads dropped)')
            notes += pillar_teacher_where_no_sparse_conv(cfg, args.device)
            row['notes'] = '; '.join(notes)
            cfg_path = osp.join(tmp, osp.basename(path))
            cfg.dump(cfg_path)
            out_json = osp.join(tmp, osp.basename(path) + '.json')
            proc = subprocess.run([
                sys.executable, 'tools/analysis_tools/benchmark.py', cfg_path, '--iters',
                str(args.iters), '--out', out_json, '--warmup', '1'
            ],
                                  cwd=ROOT,
                                  capture_output=True,
                                  text=True,
                                  timeout=args.timeout)
            print(f'gpu_check: {path}: rc {proc.returncode} {row["notes"]}', flush=True)
            if proc.returncode != 0:
                raise RuntimeError((proc.stdout + proc.stderr)[-1500:])
            with open(out_json) as f:
                res = json.load(f)
            tflops = res['model_gflops_per_sample'] * res['samples_per_s'] / 1e3
            row.update(
                iter_time_s=res['iter_time_s'],
                samples_per_s=res['samples_per_s'],
                peak_mem_mb=res['peak_mem_mb'],
                model_tflops=tflops,
                mfu=tflops / peak if peak else None,
                matmul_ratio=res.get('matmul_ratio'))
        except Exception as e:  # noqa: BLE001 - one config failing must not lose the others
            row['error'] = f'{type(e).__name__}: {e}'[-600:]
        row['wall_s'] = time.time() - t0
        rows.append(row)
        write(rows, device, args, peak)
    return rows


def write(rows, device, args, peak):
    out = osp.abspath(args.out)
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(dict(device=device, dtype=args.dtype, peak_tflops=peak, rows=rows), f, indent=1)
    lines = [
        f'# GPU check: {device}, {args.dtype} (AmpOptimWrapper), {args.iters} timed steps', '',
        f'MFU against the dense {args.dtype} peak of {peak} TFLOP/s'
        if peak else 'Unknown GPU peak: MFU not computed (see matmul_ratio in the JSON)', '',
        '| config | s / iter | samples / s | peak mem (MiB) | model TFLOP/s | MFU | notes |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        if 'error' in r:
            lines.append(
                f'| {r["config"]} | failed: {r["error"].splitlines()[-1][:100]} | | | | | {r.get("notes", "")} |')
            continue
        mfu = f'{100 * r["mfu"]:.1f} %' if r.get('mfu') is not None else '-'
        lines.append(f'| {r["config"]} | {r["iter_time_s"]:.3f} | {r["samples_per_s"]:.2f} | {r["peak_mem_mb"]:.0f} '
                     f'| {r["model_tflops"]:.1f} | {mfu} | {r.get("notes", "")} |')
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
