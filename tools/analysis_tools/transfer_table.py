"""The transfer table: does a pretraining make a backbone more 3D-aware, and does it fine-tune better?

For every row (an initialisation of a backbone architecture) this script

1. runs the pretraining that produces it (the README small configs; skipped when its checkpoint exists, so a
   table is resumable and rows can share one pretraining),
2. runs the 3D-awareness probes on the frozen backbone (``tools/analysis_tools/probe_3d.py``: dense depth AbsRel /
   RMSE / delta1 and BEV-occupancy IoU on mini_val, ``--seeds``),
3. fine-tunes the BEVDet small config from it at an equal budget for every row (same config, schedule and data;
   ``--finetune-seeds``) and reads the devkit NDS / mAP on mini_val,
4. with ``--tasks occ seg``, also fine-tunes the dense-task small configs of the row's backbone (``TASK_CONFIGS``:
   BEVDet4D-Occ on the derived occupancy labels -> "Occ mIoU", the Occ3D metric over the 17 classes inside the camera
   mask; BEVDet BEV map segmentation -> "BEV-seg IoU", BEVFusion's mean over classes of the IoU at the best
   threshold) with the same initialisation; rows whose backbone has no such config show "-",

and writes a markdown table + JSON + PNG (default ``docs/benchmarks/transfer_mini.{md,json,png}``). Every
pretrained row is compared with the random row of the same architecture: a difference "exceeds the spread" when
the mean +- std intervals over seeds do not overlap.

Rows at the small scale (``--scale mini``, bundled data, 2 CPU cores): random / GeoMIM (Swin-w64-d1121), random / MIM4D
(ConvNeXt-mini), random / Mask3D nuScenes / Mask3D RGB-D (ViT-tiny), plus ``--extra NAME=DET_CONFIG[,CKPT[,PREFIX]]``
for any backbone a user supplies (e.g. ImageNet weights of the same architecture). ``--scale paper`` uses the
paper-scale configs (full nuScenes under ``data/nuscenes``; multi-GPU through ``--train-cmd``); the command and
its cost are documented in ``docs/benchmarks/README.md``.

Usage::

    python tools/analysis_tools/transfer_table.py [--rows random-swin geomim ...] [--seeds 0 1 2]
        [--finetune-seeds 0] [--no-finetune] [--out docs/benchmarks/transfer_mini]
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
TEACHER = 'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py'
GEOMIM = 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py'
MIM4D = 'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py'
MASK3D_NUS = 'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py'
MASK3D_RGBD = 'configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py'
DET = 'projects/BEVDet/configs/'
HYBRID = 'configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py'
# equal pretraining iterations for the hybrid and its single heads: 2 epochs (80 clips) of the small hybrid config
HYBRID_EPOCHS = 2
# dense downstream tasks (--tasks): per backbone architecture, the small config and the metric read from it (the
# occupancy one needs tools/create_occ_labels.py's labels under data/occ_derived)
TASK_CONFIGS = {
    'occ': {
        'Swin-w64-d1121': 'projects/BEVDet/configs/bevdet4d-occ-swin-w64-d1121_1xb1-4e_nus-mini.py'
    },
    'seg': {
        'Swin-w64-d1121': 'projects/BEVDet/configs/bevdet-seg-swin-w64-d1121_1xb1-4e_nus-mini.py'
    },
}
TASK_METRICS = {'occ': ('Occ mIoU', 'occ3d/mIoU'), 'seg': ('BEV-seg IoU', 'bev_seg/mean/iou@max')}


def _wd(config):
    return 'work_dirs/' + osp.splitext(osp.basename(config))[0]


# every pretraining keeps its backbone under encoder.backbone.* (MaskedPretrainer): the rows load it from the
# pretraining checkpoint directly (the detector configs' own init_cfg reads extract_backbone.py's backbone.pth)
BACKBONE = 'encoder.backbone.'
# name: arch, pretraining [(config, work_dir, checkpoint)], detector config, checkpoint + prefix (None: config
# init_cfg), random init
MINI_ROWS = {
    'random-swin':
    dict(arch='Swin-w64-d1121', pretrain=[], det=DET + 'bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py', random=True),
    'geomim':
    dict(
        arch='Swin-w64-d1121',
        det=DET + 'bevdet-swin-w64-d1121-geomim_1xb1-4e_nus-mini.py',
        pretrain=[(TEACHER, _wd(TEACHER), _wd(TEACHER) + '/epoch_20.pth'),
                  (GEOMIM, _wd(GEOMIM), _wd(GEOMIM) + '/epoch_8.pth')],
        checkpoint=_wd(GEOMIM) + '/epoch_8.pth',
        prefix=BACKBONE),
    'random-convnext':
    dict(
        arch='ConvNeXt-mini', pretrain=[], random=True,
        det=DET + 'bevdet-mask-convnext-mini-mim4d_1xb1-4e_nus-mini.py'),
    'mim4d':
    dict(
        arch='ConvNeXt-mini',
        det=DET + 'bevdet-mask-convnext-mini-mim4d_1xb1-4e_nus-mini.py',
        pretrain=[(MIM4D, _wd(MIM4D), _wd(MIM4D) + '/iter_300.pth')],
        checkpoint=_wd(MIM4D) + '/iter_300.pth',
        prefix=BACKBONE),
    'random-vit':
    dict(arch='ViT-tiny', pretrain=[], random=True, det=DET + 'bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py'),
    'mask3d-nus':
    dict(
        arch='ViT-tiny',
        det=DET + 'bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py',
        pretrain=[(MASK3D_NUS, _wd(MASK3D_NUS), _wd(MASK3D_NUS) + '/iter_300.pth')],
        checkpoint=_wd(MASK3D_NUS) + '/iter_300.pth',
        prefix=BACKBONE),
    'mask3d-rgbd':
    dict(
        arch='ViT-tiny',
        det=DET + 'bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py',
        pretrain=[(MASK3D_RGBD, _wd(MASK3D_RGBD), _wd(MASK3D_RGBD) + '/iter_400.pth')],
        checkpoint=_wd(MASK3D_RGBD) + '/iter_400.pth',
        prefix=BACKBONE,
        # its position embedding is stored at the 240x320 RGB-D input: a 15x20 patch grid
        cfg_options=['model.img_backbone.pretrained_patch_resolution=(15,20)']),
}


def _hybrid_row(name, drop=(), seed=0, loss_weights=None, epochs=HYBRID_EPOCHS):
    """The small hybrid config for HYBRID_EPOCHS epochs with the heads in ``drop`` left out (same encoder, data and
    iterations: equal iterations, not equal compute, since each head adds its own cost per step: measured in
    docs/hybrid/README.md), pretraining seed ``seed``; ``epochs`` other than HYBRID_EPOCHS: the equal-compute rows."""
    wd = f'work_dirs/hybrid_mini/{name}'
    opts = [
        '--cfg-options', f'train_cfg.max_epochs={epochs}', f'param_scheduler.1.T_max={epochs}',
        f'param_scheduler.1.end={epochs}', f'randomness.seed={seed}'
    ]
    opts += [f'model.heads.{h}=None' for h in drop]
    opts += [f'model.loss_weights.{h}={w}' for h, w in (loss_weights or {}).items()]
    ckpt = f'{wd}/epoch_{epochs}.pth'
    teacher = [] if 'bev' in drop else [(TEACHER, _wd(TEACHER), _wd(TEACHER) + '/epoch_20.pth')]
    return dict(
        arch='Swin-w64-d1121',
        det=DET + 'bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py',
        checkpoint=ckpt,
        prefix=BACKBONE,
        pretrain=teacher + [(HYBRID, wd, ckpt, opts)])


# the heads' gradients into the encoder balanced (docs/hybrid/loss_gradients_init.json: at init the rendering
# losses send ~14x the depth head's and ~170x the BEV head's gradient norm)
MINI_ROWS['hybrid-balanced'] = _hybrid_row('hybrid-balanced', loss_weights=dict(bev=10.0, render=0.1, depth=1.0))
for _seed in (0, 1):  # two pretraining seeds per row (suffix -s1 for the second)
    _sfx = '' if _seed == 0 else f'-s{_seed}'
    MINI_ROWS.update({
        f'hybrid-bev{_sfx}':
        _hybrid_row(f'hybrid-bev{_sfx}', drop=('render', 'depth'), seed=_seed),
        f'hybrid-render{_sfx}':
        _hybrid_row(f'hybrid-render{_sfx}', drop=('bev', 'depth'), seed=_seed),
        f'hybrid-depth{_sfx}':
        _hybrid_row(f'hybrid-depth{_sfx}', drop=('bev', 'render'), seed=_seed),
        f'hybrid-bev-render-depth{_sfx}':
        _hybrid_row(f'hybrid-bev-render-depth{_sfx}', seed=_seed),
        # equal measured compute: each single head trains for the hybrid's 2 epochs times the hybrid's step cost over
        # its own, rounded to whole epochs (benchmark_heads.py, docs/hybrid/README.md: hybrid 2.07x the bev-only
        # step, 3.05x the depth-only, 1.18x the render-only: bev 4, depth 6, render 2 epochs = the row above)
        f'hybrid-bev-eqc{_sfx}':
        _hybrid_row(f'hybrid-bev-eqc{_sfx}', drop=('render', 'depth'), seed=_seed, epochs=4),
        f'hybrid-depth-eqc{_sfx}':
        _hybrid_row(f'hybrid-depth-eqc{_sfx}', drop=('bev', 'render'), seed=_seed, epochs=6),
    })
PAPER_ROWS = {
    'random-swin-b':
    dict(arch='Swin-B', pretrain=[], det=DET + 'bevdet-swin-b_8xb8-cbgs-20e_nus.py', random=True),
    'geomim-swin-b':
    dict(
        arch='Swin-B',
        det=DET + 'bevdet-swin-b_8xb8-cbgs-20e_nus.py',
        pretrain=[('configs/geomim/geomim_swin-b_16xb2-50e_nus.py', 'work_dirs/geomim_swin-b_16xb2-50e_nus',
                   'work_dirs/geomim_swin-b_16xb2-50e_nus/epoch_50.pth')],
        checkpoint='work_dirs/geomim_swin-b_16xb2-50e_nus/epoch_50.pth',
        prefix=BACKBONE),
}


def run(cmd, log_path):
    """Run ``cmd`` (list) from the repo root, tee-less: output to ``log_path``; raise with the log tail."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    t = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'transfer_table: {" ".join(map(shlex.quote, cmd))} failed (rc {proc.returncode}); '
                           f'log {log_path}:\n{tail}')
    return time.time() - t


def train_cmd(args, config, extra):
    base = shlex.split(args.train_cmd.format(config=config)) if args.train_cmd else [PY, 'tools/train.py', config]
    return base + extra


def _scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(osp.join(ROOT, work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    return rows


def last_metric(work_dir, key):
    """The value of ``key`` (e.g. ``occ3d/mIoU``) at the last validation of an mmengine work dir.

    Raises:
        RuntimeError: no validation logged ``key``.
    """
    for r in reversed(_scalars(work_dir)):
        if key in r:
            return r[key]
    raise RuntimeError(f'transfer_table: no {key} in {work_dir}/*/vis_data/scalars.json (did the validation run?)')


def last_metrics(work_dir):
    """NDS / mAP of the last validation in an mmengine work dir (``*/vis_data/scalars.json``)."""
    rows = _scalars(work_dir)
    for r in reversed(rows):
        nds = [v for k, v in r.items() if k.endswith('/NDS')]
        if nds:
            return dict(NDS=nds[0], mAP=[v for k, v in r.items() if k.endswith('/mAP')][0])
    raise RuntimeError(f'transfer_table: no NDS in {work_dir}/*/vis_data/scalars.json (did the validation run?)')


def do_row(name, row, args, out_dir):
    res = dict(name=name, arch=row['arch'], det=row['det'], cost_s={})
    for config, work_dir, ckpt, *extra in row.get('pretrain', []):
        if osp.isfile(osp.join(ROOT, ckpt)) and not args.force_pretrain:
            print(f'[{name}] pretraining {config}: reuse {ckpt}')
            continue
        print(f'[{name}] pretraining {config} -> {ckpt}')
        res['cost_s'][f'pretrain {osp.basename(config)}'] = run(
            train_cmd(args, config, ['--work-dir', work_dir] + (extra[0] if extra else [])),
            osp.join(out_dir, 'logs', f'{name}_pretrain_{osp.basename(work_dir)}.log'))
    probe_dir = osp.join('work_dirs', 'transfer', name, 'probe')
    probe = [
        PY, 'tools/analysis_tools/probe_3d.py', row['det'], '--name', name, '--work-dir', probe_dir, '--seeds',
        *map(str, args.seeds), '--depth-iters',
        str(args.depth_iters), '--bev-iters',
        str(args.bev_iters)
    ]
    if row.get('cfg_options'):
        probe += ['--cfg-options', *row['cfg_options']]
    if row.get('random'):
        probe.append('--random-init')
    elif row.get('checkpoint'):
        probe += ['--checkpoint', row['checkpoint'], '--prefix', row.get('prefix') or '']
    print(f'[{name}] probes ({len(args.seeds)} seeds)')
    res['cost_s']['probes'] = run(probe, osp.join(out_dir, 'logs', f'{name}_probe.log'))
    with open(osp.join(ROOT, probe_dir, 'probe_3d.json')) as f:
        res['probe'] = json.load(f)
    if not args.no_finetune:
        res['finetune'] = []
        for seed in args.finetune_seeds:
            work = osp.join('work_dirs', 'transfer', name, f'finetune_seed{seed}')
            opts = finetune_opts(row, seed)
            print(f'[{name}] BEVDet fine-tune, seed {seed}')
            res['cost_s'][f'finetune seed {seed}'] = run(
                train_cmd(args, row['det'], ['--work-dir', work, '--cfg-options', *opts]),
                osp.join(out_dir, 'logs', f'{name}_finetune{seed}.log'))
            res['finetune'].append(dict(seed=seed, **last_metrics(work)))
        for task in args.tasks:
            config = TASK_CONFIGS[task].get(row['arch'])
            if config is None:
                print(f'[{name}] {task}: no small config for {row["arch"]} (column left empty)')
                continue
            column, key = TASK_METRICS[task]
            res.setdefault('tasks', {})[column] = []
            for seed in args.finetune_seeds:
                work = osp.join('work_dirs', 'transfer', name, f'{task}_seed{seed}')
                print(f'[{name}] {task} fine-tune ({osp.basename(config)}), seed {seed}')
                res['cost_s'][f'{task} seed {seed}'] = run(
                    train_cmd(args, config, ['--work-dir', work, '--cfg-options', *finetune_opts(row, seed)]),
                    osp.join(out_dir, 'logs', f'{name}_{task}{seed}.log'))
                res['tasks'][column].append(last_metric(work, key))
    return res


def finetune_opts(row, seed):
    """``--cfg-options`` of a fine-tune: the seed and the row's backbone initialisation."""
    opts = [f'randomness.seed={seed}'] + list(row.get('cfg_options', []))
    if row.get('random'):
        opts.append('model.img_backbone.init_cfg=None')
    elif row.get('checkpoint'):
        opts += [
            f'model.img_backbone.init_cfg.checkpoint={row["checkpoint"]}',
            f'model.img_backbone.init_cfg.prefix={row.get("prefix") or ""}'
        ]
    return opts


def _ms(values):
    n = len(values)
    m = sum(values) / n
    s = (sum((v - m)**2 for v in values) / (n - 1))**0.5 if n > 1 else 0.0
    return m, s


def metric_table(results):
    """Per row: {metric: (mean, std, higher_is_better)}."""
    table = {}
    for r in results:
        t = {}
        d = r['probe'].get('depth', {}).get('summary')
        if d:
            t['AbsRel'] = (d['abs_rel']['mean'], d['abs_rel']['std'], False)
            t['RMSE (m)'] = (d['rmse']['mean'], d['rmse']['std'], False)
            t['delta1'] = (d['delta1']['mean'], d['delta1']['std'], True)
        b = r['probe'].get('bev', {}).get('summary')
        if b:
            t['BEV IoU'] = (b['iou']['mean'], b['iou']['std'], True)
        if r.get('finetune'):
            for k in ('NDS', 'mAP'):
                m, s = _ms([f[k] for f in r['finetune']])
                t[k] = (m, s, True)
        for column, values in (r.get('tasks') or {}).items():
            if values:
                t[column] = _ms(values) + (True, )
        table[r['name']] = t
    return table


def verdicts(results, table):
    """For each pretrained row, per metric: better / worse / within spread than the same architecture's random."""
    randoms = {r['arch']: r['name'] for r in results if r['name'].startswith('random')}
    out = {}
    for r in results:
        ref = randoms.get(r['arch'])
        if ref is None or ref == r['name']:
            continue
        v = {}
        for k, (m, s, higher) in table[r['name']].items():
            if k not in table[ref]:
                continue
            rm, rs = table[ref][k][:2]
            if s == 0 and rs == 0:  # one seed (the fine-tune default): no spread to compare against
                v[k] = 'one seed: no spread'
            elif abs(m - rm) <= s + rs:
                v[k] = 'within spread'
            else:
                v[k] = 'better' if (m > rm) == higher else 'worse'
        out[r['name']] = dict(reference=ref, **v)
    return out


def write_outputs(results, args, out):
    table = metric_table(results)
    verdict = verdicts(results, table)
    keys = ['AbsRel', 'RMSE (m)', 'delta1', 'BEV IoU', 'NDS', 'mAP'] + [c for c, _ in TASK_METRICS.values()]
    keys = [k for k in keys if any(k in t for t in table.values())]
    lines = [
        '| init | backbone | ' + ' | '.join(keys) + ' | vs random (beyond the seed spread) |',
        '| --- | --- | ' + ' | '.join('---' for _ in keys) + ' | --- |'
    ]
    for r in results:
        t = table[r['name']]
        cells = [f'{t[k][0]:.4f} ± {t[k][1]:.4f}' if k in t else '-' for k in keys]
        v = verdict.get(r['name'])
        vs = '; '.join(f'{k}: {v[k]}' for k in keys if k in v) if v else 'reference'
        lines.append(f'| {r["name"]} | {r["arch"]} | ' + ' | '.join(cells) + f' | {vs} |')
    cmd = 'python tools/analysis_tools/transfer_table.py ' + ' '.join(map(shlex.quote, sys.argv[1:]))
    md = [
        '# Transfer table (' +
        ('bundled nuScenes: train scene-0523, eval mini_val scene-0916' if args.scale == 'mini' else 'nuScenes') + ')',
        '', f'Command: `{cmd}`', '',
        f'Probe seeds: {args.seeds} (depth {args.depth_iters} it, BEV {args.bev_iters} it); fine-tune seeds: '
        f'{[] if args.no_finetune else args.finetune_seeds} (BEVDet small config, 4 epochs, same for every row). '
        'Mean ± sample std over seeds (std 0 with one seed). "beyond the seed spread": the mean ± std intervals '
        'of the row and of the random row of the same backbone do not overlap.', ''
    ] + lines + ['']
    md += [
        'Cost (s): ' + '; '.join(f'{r["name"]}: ' + ', '.join(f'{k} {v:.0f}' for k, v in r['cost_s'].items())
                                 for r in results), ''
    ]
    os.makedirs(osp.dirname(osp.join(ROOT, out)) or '.', exist_ok=True)
    with open(osp.join(ROOT, out + '.md'), 'w') as f:
        f.write('\n'.join(md))
    with open(osp.join(ROOT, out + '.json'), 'w') as f:
        json.dump(
            dict(
                results=results,
                table={
                    k: {
                        m: list(v)
                        for m, v in t.items()
                    }
                    for k, t in table.items()
                },
                verdicts=verdict,
                command=cmd),
            f,
            indent=1)
    plot(table, keys, out)
    print('\n'.join(lines))


def plot(table, keys, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(table)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.4))
    axes = [axes] if len(keys) == 1 else axes
    for ax, k in zip(axes, keys):
        m = [table[n].get(k, (0, 0))[0] for n in names]
        s = [table[n].get(k, (0, 0))[1] for n in names]
        ax.bar(
            range(len(names)), m, yerr=s, capsize=3, color=['0.6' if n.startswith('random') else 'C0' for n in names])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha='right', fontsize=7)
        ax.set_title(k + (' (lower better)' if k in ('AbsRel', 'RMSE (m)') else ''), fontsize=9)
    fig.tight_layout()
    fig.savefig(osp.join(ROOT, out + '.png'), dpi=110)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='pretraining -> probes -> BEVDet fine-tune transfer table')
    p.add_argument('--scale', choices=['mini', 'paper'], default='mini')
    p.add_argument('--rows', nargs='+', help='subset of the rows (default: all of the scale)')
    p.add_argument(
        '--extra',
        nargs='+',
        default=[],
        metavar='NAME=DET_CONFIG[,CKPT[,PREFIX]]',
        help='extra rows: a detector config and optionally backbone weights (+ their key prefix)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='probe seeds')
    p.add_argument('--finetune-seeds', type=int, nargs='+', default=[0])
    p.add_argument('--no-finetune', action='store_true')
    p.add_argument(
        '--tasks',
        nargs='*',
        default=[],
        choices=sorted(TASK_CONFIGS),
        help='dense downstream tasks fine-tuned too (columns "Occ mIoU", "BEV-seg IoU")')
    p.add_argument('--force-pretrain', action='store_true', help='rerun pretrainings whose checkpoint exists')
    p.add_argument('--depth-iters', type=int, default=400)
    p.add_argument('--bev-iters', type=int, default=300)
    p.add_argument('--train-cmd', help='training command template, e.g. "bash tools/dist_train.sh {config} 8"')
    p.add_argument('--out', default=None, help='output stem (default docs/benchmarks/transfer_<scale>)')
    p.add_argument('--render-only', action='store_true', help='rewrite the .md/.png from the existing .json')
    p.add_argument(
        '--append',
        action='store_true',
        help='keep the rows of the existing .json (a row run again replaces its old result)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rows = dict(MINI_ROWS if args.scale == 'mini' else PAPER_ROWS)
    if args.rows:
        unknown = [r for r in args.rows if r not in rows]
        if unknown:
            raise SystemExit(f'transfer_table: unknown rows {unknown}; known: {list(rows)}')
        rows = {k: rows[k] for k in args.rows}
    for spec in args.extra:
        name, _, rest = spec.partition('=')
        parts = rest.split(',')
        if not name or not parts[0]:
            raise SystemExit(f'transfer_table: --extra must be NAME=DET_CONFIG[,CKPT[,PREFIX]], got {spec!r}')
        rows[name] = dict(
            arch=name,
            det=parts[0],
            pretrain=[],
            checkpoint=parts[1] if len(parts) > 1 else None,
            prefix=parts[2] if len(parts) > 2 else None)
    out = args.out or f'docs/benchmarks/transfer_{args.scale}'
    if args.render_only:
        with open(osp.join(ROOT, out + '.json')) as f:
            saved = json.load(f)
        sys.argv = ['transfer_table.py'] + shlex.split(saved['command'].split('transfer_table.py', 1)[1])
        write_outputs(saved['results'], parse_args(sys.argv[1:]), out)
        return saved['results']
    out_dir = osp.join(ROOT, 'work_dirs', 'transfer')
    results = []
    if args.append and osp.isfile(osp.join(ROOT, out + '.json')):
        with open(osp.join(ROOT, out + '.json')) as f:
            results = [r for r in json.load(f)['results'] if r['name'] not in rows]
    for name, row in rows.items():
        results.append(do_row(name, row, args, out_dir))
        write_outputs(results, args, out)  # a failure later keeps the rows done so far
    return results


if __name__ == '__main__':
    main()
