"""GPU check: speed, memory and model FLOP utilisation of every paper-scale pretraining and detector config.

On a CUDA machine, runs ``tools/analysis_tools/benchmark.py`` on each config of ``CONFIGS`` with mixed precision
(mmengine ``AmpOptimWrapper``, ``--dtype`` bfloat16 or float16) and writes ``docs/benchmarks/gpu.md`` (+ ``.json``):
iteration time, samples/s, peak memory and MFU = achieved model FLOP/s / the GPU's dense peak of that dtype
(``PEAK_TFLOPS``; unknown GPUs: the measured fp32 matmul throughput is reported instead). A failing config is
recorded with its error and the others still run.

The configs' own data are used (full nuScenes under ``data/nuscenes``). ``--nus-root`` / ``--info-dir`` point
every dataset of the configs at another nuScenes root and info files instead (e.g. the bundled v1.0-mini frames:
the speed of a paper-scale model does not depend on which frames it reads).

Usage (about 1 minute per config on one H100/H200)::

    python tools/analysis_tools/gpu_check.py [--dtype bfloat16] [--iters 10] \
        [--nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos] [--configs ...]
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
CONFIGS = [
    'configs/geomim/geomim_swin-b_16xb2-50e_nus.py',
    'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py',
    'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py',
    'configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py',
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
    'projects/BEVFormer/configs/bevformer-base_r101-dcn_8xb1-24e_nus.py',
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


def main(argv=None):
    p = argparse.ArgumentParser(description='benchmark.py on every paper-scale config, on a GPU')
    p.add_argument('--configs', nargs='+', default=CONFIGS)
    p.add_argument('--dtype', choices=['bfloat16', 'float16'], default='bfloat16')
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--nus-root', help='nuScenes root to read instead of the configs\' data/nuscenes')
    p.add_argument('--info-dir', help='info files to read instead of the configs\' ones (with --nus-root)')
    p.add_argument('--out', default='docs/benchmarks/gpu')
    p.add_argument('--timeout', type=int, default=300, help='seconds per config')
    args = p.parse_args(argv)

    import torch
    from mmengine.config import Config

    from mim3d_plugin.datasets.retarget import retarget_data
    if not torch.cuda.is_available():
        raise SystemExit('gpu_check: no CUDA device; the GPU figures stay unmeasured (run this on a GPU machine)')
    device = torch.cuda.get_device_name(0)
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
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.dtype = args.dtype
            # speed only: no teacher download on an offline machine
            for owner in [h for h in cfg.model.get('heads', {}).values() if h is not None]:
                teacher = owner.get('teacher')
                if teacher is not None and str(teacher.get('checkpoint') or '').startswith('http'):
                    owner.allow_untrained_teacher = True
                    teacher.checkpoint = None
            cfg_path = osp.join(tmp, osp.basename(path))
            cfg.dump(cfg_path)
            out_json = osp.join(tmp, osp.basename(path) + '.json')
            proc = subprocess.run([
                sys.executable, 'tools/analysis_tools/benchmark.py', cfg_path, '--iters',
                str(args.iters), '--out', out_json
            ],
                                  cwd=ROOT,
                                  capture_output=True,
                                  text=True,
                                  timeout=args.timeout)
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
    out = osp.join(ROOT, args.out)
    os.makedirs(osp.dirname(out), exist_ok=True)
    with open(out + '.json', 'w') as f:
        json.dump(dict(device=device, dtype=args.dtype, peak_tflops=peak, rows=rows), f, indent=1)
    lines = [
        f'# GPU check: {device}, {args.dtype} (AmpOptimWrapper), {args.iters} timed steps', '',
        f'MFU against the dense {args.dtype} peak of {peak} TFLOP/s'
        if peak else 'Unknown GPU peak: MFU not computed (see matmul_ratio in the JSON)', '',
        '| config | s / iter | samples / s | peak mem (MiB) | model TFLOP/s | MFU |',
        '| --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        if 'error' in r:
            lines.append(f'| {r["config"]} | failed: {r["error"].splitlines()[-1][:100]} | | | | |')
            continue
        mfu = f'{100 * r["mfu"]:.1f} %' if r.get('mfu') is not None else '-'
        lines.append(f'| {r["config"]} | {r["iter_time_s"]:.3f} | {r["samples_per_s"]:.2f} | {r["peak_mem_mb"]:.0f} '
                     f'| {r["model_tflops"]:.1f} | {mfu} |')
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
