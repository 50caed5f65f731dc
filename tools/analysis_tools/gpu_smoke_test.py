"""Device smoke test: every small config trains one step (bf16 autocast) and predicts on the device.

For each config of ``mim3d_plugin.testing.SMALL_CONFIGS`` that reads nuScenes (the RGB-D ones need
``../shared/data/rgbd``, which the offline bundle does not carry): build it without file loads (random init where a
checkpoint or URL would be loaded: said in the output), one training step (forward + backward) under autocast
``--dtype`` and one ``predict`` of the test split's first sample, on ``--device``. Prints and writes
``OUT/smoke.json`` / ``OUT/smoke.md``: per config the loss, whether every gradient is finite, the predictions,
seconds; and which implementation of every mmcv op ran (``mim3d_plugin.ops.op_choices``). A failing config is
recorded with its error and the others still run; the exit status is 1 if any failed.

Usage::

    python tools/analysis_tools/gpu_smoke_test.py --out OUT [--device cuda] [--dtype bfloat16] \
        [--nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos] [--configs ...]
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import traceback

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None):
    import torch

    from mim3d_plugin.testing import SMALL_CONFIGS
    p = argparse.ArgumentParser(description='one bf16 training step + predict of every small config on a device')
    p.add_argument('--configs', nargs='+', default=[c for c in SMALL_CONFIGS if 'redwood' not in c])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', choices=['bfloat16', 'float16', 'float32'], default='bfloat16')
    p.add_argument('--nus-root')
    p.add_argument('--info-dir')
    p.add_argument('--out', required=True, help='folder for smoke.json / smoke.md')
    args = p.parse_args(argv)

    from mim3d_plugin.ops import op_choices
    from mim3d_plugin.testing import build_model, load_config, train_step_and_predict
    dtype = None if args.dtype == 'float32' else getattr(torch, args.dtype)
    device_name = torch.cuda.get_device_name(0) if args.device.startswith('cuda') else 'cpu'
    print(f'gpu_smoke_test: {device_name}, torch {torch.__version__}, autocast {args.dtype}', flush=True)
    rows = []
    for path in args.configs:
        t0 = time.time()
        row = dict(config=path)
        try:
            cfg = load_config(path, args.nus_root, args.info_dir)
            model = build_model(cfg)
            res = train_step_and_predict(model, cfg, args.device, dtype)
            row.update(loss=res['loss'], grads_finite=res['grads_finite'], predictions=res['num_predictions'])
            row['ok'] = bool(res['grads_finite'] and torch.isfinite(torch.tensor(res['loss'])))
            if args.device.startswith('cuda'):
                row['peak_mem_mb'] = torch.cuda.max_memory_allocated() / 2**20
                torch.cuda.reset_peak_memory_stats()
            del model
        except Exception as e:  # noqa: BLE001 - one config failing must not hide the others
            row.update(ok=False, error=f'{type(e).__name__}: {e}'[-800:], trace=traceback.format_exc()[-3000:])
        row['wall_s'] = round(time.time() - t0, 2)
        rows.append(row)
        print(
            f'gpu_smoke_test: {"ok  " if row["ok"] else "FAIL"} {path} {row.get("loss", "")} '
            f'{row.get("error", "")[:300]} ({row["wall_s"]} s)',
            flush=True)
    ops = op_choices(args.device)
    result = dict(
        device=device_name,
        torch=torch.__version__,
        dtype=args.dtype,
        ops=ops,
        rows=rows,
        note='random init wherever a config loads a checkpoint or URL (teachers: untrained)')
    os.makedirs(args.out, exist_ok=True)
    with open(osp.join(args.out, 'smoke.json'), 'w') as f:
        json.dump(result, f, indent=1)
    lines = [
        f'# Smoke test: {device_name}, torch {torch.__version__}, {args.dtype} autocast', '',
        'mmcv ops: ' + ', '.join(f'{k} = {v}' for k, v in ops.items()), '', result['note'], '',
        '| config | ok | loss | grads finite | predictions | s |', '| --- | --- | --- | --- | --- | --- |'
    ]
    for r in rows:
        loss = f'{r["loss"]:.4g}' if 'loss' in r else r.get('error', '')[:120].replace('|', '/')
        lines.append(f'| {r["config"]} | {"yes" if r["ok"] else "no"} | {loss} | {r.get("grads_finite", "")} '
                     f'| {r.get("predictions", "")} | {r["wall_s"]} |')
    with open(osp.join(args.out, 'smoke.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0 if all(r['ok'] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
