"""3D-awareness probes of a frozen camera backbone: dense metric depth and multi-view BEV occupancy.

The backbone is the ``img_backbone`` (+ ``img_neck``) of a single-frame BEVDet-style detector config of this
project, so any backbone of this project or of mmpretrain / mmdet is probed as the detector would see it, at the
detector's input size:

- default: the backbone's own ``init_cfg`` (e.g. ``bevdet-swin-w64-d1121-geomim_1xb1-4e_nus-mini.py`` loads the
  GeoMIM run's backbone by the ``backbone.`` prefix);
- ``--checkpoint CKPT [--prefix backbone.]``: weights from any checkpoint (a pretraining checkpoint, an
  extracted backbone, an ImageNet checkpoint), the prefix stripped; unmatched keys are reported;
- ``--random-init``: the architecture with its default initialisation (the baseline every pretraining must beat).

Frozen features of every camera image of the train split (depth probe: all backbone levels; BEV probe: the
detector's view-transformer input) are cached once, then for each seed a :class:`DenseDepthProbe` and a
:class:`BEVOccupancyProbe` are fitted on the train split and scored on the val split (the bundled data:
scene-0523 -> scene-0916 = mini_val). Protocol and metrics: ``mim3d_plugin/evaluation/probes.py``.

Writes ``WORK_DIR/probe_3d.json`` (per seed, mean and std over seeds, per camera, cost: seconds and peak memory)
and prints one markdown table row.

Usage::

    python tools/analysis_tools/probe_3d.py projects/BEVDet/configs/bevdet-swin-w64-d1121-geomim_1xb1-4e_nus-mini.py \
        --name geomim --seeds 0 1 2 [--random-init | --checkpoint CKPT --prefix backbone.] [--work-dir DIR]
"""
import argparse
import json
import os
import os.path as osp
import resource
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import mim3d_plugin  # noqa: F401,E402
from mim3d_plugin.evaluation import probes  # noqa: E402
from mim3d_plugin.models.pretrainers import BACKBONE_PREFIXES  # noqa: E402

DEFAULT_BEV_GRID = dict(x=[-51.2, 51.2, 1.6], y=[-51.2, 51.2, 1.6], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 1.0])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='depth and BEV-occupancy probes of a frozen backbone')
    p.add_argument('config', help='single-frame BEVDet-style detector config (img_backbone [+ img_neck])')
    p.add_argument('--name', help='row name (default: the config name)')
    init = p.add_mutually_exclusive_group()
    init.add_argument('--checkpoint', help='load the backbone from this checkpoint (see --prefix)')
    init.add_argument('--random-init', action='store_true', help='ignore every pretrained init of the backbone')
    p.add_argument(
        '--prefix',
        default=None,
        help='key prefix of the backbone in --checkpoint (default: the first of backbone., '
        'img_backbone., none that matches)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--probes', nargs='+', default=['depth', 'bev'], choices=['depth', 'bev'])
    p.add_argument('--depth-iters', type=int, default=400)
    p.add_argument('--bev-iters', type=int, default=300)
    p.add_argument(
        '--z-range',
        type=float,
        nargs=2,
        default=[-1.5, 1.0],
        help='height band (m, LiDAR frame) of the returns that make a BEV cell occupied')
    p.add_argument('--max-frames', type=int, default=None, help='use the first N frames of each split (tests)')
    p.add_argument('--work-dir', default=None, help='default: work_dirs/probe_3d/NAME')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def build_detector(cfg, args):
    """The detector with the backbone weights asked for, frozen, in eval mode."""
    bcfg = cfg.model.img_backbone
    if args.random_init or args.checkpoint:
        bcfg.init_cfg = None
        if 'pretrained' in bcfg:
            bcfg.pretrained = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    report = dict(init='config init_cfg' if not (args.random_init or args.checkpoint) else (
        'random' if args.random_init else args.checkpoint))
    if args.checkpoint:
        report.update(load_backbone(model.img_backbone, args.checkpoint, args.prefix))
    model.requires_grad_(False)
    return model.eval(), report


def load_backbone(backbone, checkpoint: str, prefix=None) -> dict:
    """Load ``checkpoint`` into ``backbone`` with ``prefix`` stripped; raise if no key matches."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    own = backbone.state_dict()
    prefixes = [prefix] if prefix is not None else list(BACKBONE_PREFIXES) + ['']
    for pre in prefixes:
        matched = {k[len(pre):]: v for k, v in state.items() if k.startswith(pre) and k[len(pre):] in own}
        if matched:
            break
    else:
        raise ValueError(f'probe_3d: no key of {checkpoint} matches the backbone {type(backbone).__name__} with '
                         f'prefix {prefixes}; e.g. checkpoint keys {list(state)[:3]}, backbone keys {list(own)[:3]}')
    load_checkpoint(backbone, checkpoint, map_location='cpu', strict=False, revise_keys=[(f'^{pre}', '')])
    missing = [k for k in own if k not in matched]
    return dict(prefix=pre, loaded_keys=len(matched), missing_keys=len(missing), missing_examples=missing[:5])


def _dataset(cfg, split: str, max_frames=None):
    ds_cfg = cfg.val_dataloader.dataset.copy()
    if ds_cfg.get('type') not in ('NuScenesMultiViewDataset', ):
        raise ValueError(f'probe_3d: needs a single-frame multi-view config (NuScenesMultiViewDataset), got '
                         f'{ds_cfg.get("type")!r} in {cfg.filename}')
    if split == 'train':
        ds_cfg.ann_file = cfg.train_dataloader.dataset.ann_file
    if max_frames is not None:
        ds_cfg.indices = max_frames
    return DATASETS.build(ds_cfg)


@torch.no_grad()
def cache_features(model, dataset, desc: str):
    """Per frame: backbone levels and LSS input ``(N, C, h, w)``, depth ``(N, H, W)`` m, lidar2img, points."""
    frames = []
    print(f'caching frozen features of {len(dataset)} {desc} frames')
    bar = ProgressBar(len(dataset))
    for i in range(len(dataset)):
        data = model.data_preprocessor(pseudo_collate([dataset[i]]), False)
        imgs = data['inputs']['imgs']
        sample = data['data_samples'][0]
        levels = model.img_backbone(imgs.flatten(0, 1))
        levels = list(levels) if isinstance(levels, (list, tuple)) else [levels]
        lss = model.img_neck(levels) if model.img_neck is not None else levels
        lss = lss[model.img_neck_out_index] if isinstance(lss, (list, tuple)) else lss
        frames.append(
            dict(
                feats=[f.float() for f in levels],
                lss_feat=lss.float(),
                depth=data['inputs']['depth'][0].float(),
                lidar2img=torch.as_tensor(sample.metainfo['lidar2img'], dtype=torch.float32),
                points=data['inputs']['points'][0][:, :3].float(),
                cameras=list(dataset.cameras)))
        bar.update()
    print()
    return frames


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', 'probe_3d', name)
    os.makedirs(work_dir, exist_ok=True)
    torch.manual_seed(0)
    t0 = time.time()
    model, init_report = build_detector(cfg, args)
    train = cache_features(model, _dataset(cfg, 'train', args.max_frames), 'train')
    val = cache_features(model, _dataset(cfg, 'val', args.max_frames), 'val')
    t_cache = time.time() - t0
    vt = cfg.model.img_view_transformer
    input_size, downsample = tuple(vt.input_size), vt.get('downsample', 16)
    results = dict(
        name=name,
        config=args.config,
        init=init_report,
        seeds=args.seeds,
        frames=dict(train=len(train), val=len(val)),
        cost=dict(cache_s=t_cache))
    if 'depth' in args.probes:
        runs, per_cam, t = [], [], time.time()
        print(f'depth probe: {len(args.seeds)} seeds x {args.depth_iters} iterations')
        bar = ProgressBar(len(args.seeds) * args.depth_iters)
        for seed in args.seeds:
            probe = probes.fit_depth_probe(
                train, [f.shape[1] for f in train[0]['feats']], args.depth_iters, seed, progress=bar)
            scores = probes.depth_scores(
                probes.predict_depth(probe, val), [f['depth'] for f in val], [f['cameras'] for f in val])
            runs.append({k: v for k, v in scores['overall'].items() if k != 'pixels'})
            per_cam.append(scores)
        print()
        results['depth'] = dict(
            summary=probes.summarise_seeds(runs), per_seed=per_cam, iters=args.depth_iters, cost_s=time.time() - t)
    if 'bev' in args.probes:
        runs, t = [], time.time()
        grid = dict(DEFAULT_BEV_GRID)
        print(f'BEV occupancy probe: {len(args.seeds)} seeds x {args.bev_iters} iterations')
        bar = ProgressBar(len(args.seeds) * args.bev_iters)
        for seed in args.seeds:
            probe = probes.fit_bev_probe(
                train,
                train[0]['lss_feat'].shape[1],
                grid,
                input_size,
                downsample,
                tuple(args.z_range),
                args.bev_iters,
                seed,
                progress=bar)
            runs.append(probes.occupancy_iou(*probes.predict_bev(probe, val, tuple(args.z_range))))
        print()
        results['bev'] = dict(
            summary=probes.summarise_seeds(runs),
            per_seed=runs,
            iters=args.bev_iters,
            grid=grid,
            z_range=list(args.z_range),
            cost_s=time.time() - t)
    results['cost']['total_s'] = time.time() - t0
    results['cost']['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if torch.cuda.is_available():
        results['cost']['peak_cuda_mib'] = torch.cuda.max_memory_allocated() / 2**20
    with open(osp.join(work_dir, 'probe_3d.json'), 'w') as f:
        json.dump(results, f, indent=1)
    print(markdown_row(results))
    return results


def _fmt(summary, key, scale=1.0, digits=3):
    if summary is None:
        return '-'
    s = summary[key]
    return f'{s["mean"] * scale:.{digits}f} ± {s["std"] * scale:.{digits}f}'


def markdown_row(results: dict) -> str:
    """``| name | AbsRel | RMSE (m) | delta1 | BEV IoU | s |`` (mean ± std over seeds)."""
    d = results.get('depth', {}).get('summary')
    b = results.get('bev', {}).get('summary')
    return (f'| {results["name"]} | {_fmt(d, "abs_rel")} | {_fmt(d, "rmse", digits=2)} | {_fmt(d, "delta1")} | '
            f'{_fmt(b, "iou")} | {results["cost"]["total_s"]:.0f} |')


if __name__ == '__main__':
    main()
