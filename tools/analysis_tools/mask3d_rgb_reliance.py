"""How much does a Mask3D model use its RGB input? (why the Mask3D rows of the transfer table do not beat random init)

Scores the model's depth on mini_val (scene-0916) with the pretext masking of ``test_cfg`` (75 % of RGB patches and
75 % of depth patches dropped, AbsRel on the valid LiDAR pixels of the dropped depth patches) and monocularly (all
RGB, no depth patch), each with the true images and with blank images (every pixel the dataset mean colour, i.e.
zeros after normalisation). A model whose pretext AbsRel barely changes when the images go blank solves its task
from the visible depth patches alone, so its RGB encoder -- the part a detector keeps -- is not pushed towards
geometry. Also: the share of the monocular prediction's log-depth variance explained by the image row (a
depth-by-row prior) and the mean image gradient of the prediction (non-zero: the image is connected).

    python tools/analysis_tools/mask3d_rgb_reliance.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py \
        work_dirs/mask3d_nus_mini/iter_300.pth [--out docs/mask3d/rgb_reliance_nus_mini.json]
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

import mim3d_plugin  # noqa: F401,E402

CONDITIONS = {  # name: (RGB mask ratio, depth mask ratio, eval region, blank images)
    'pretext_rgb': (0.75, 0.75, 'masked', False),
    'pretext_blank': (0.75, 0.75, 'masked', True),
    'mono_rgb': (0.0, 1.0, 'all', False),
    'mono_blank': (0.0, 1.0, 'all', True),
}


@torch.no_grad()
def score(model, batches, mask_ratio, depth_mask_ratio, region, blank):
    model.heads['depth'].test_cfg.update(
        mask_ratio=mask_ratio, depth_mask_ratio=depth_mask_ratio, eval_region=region, baselines=())
    model.test_cfg['seed'] = 0
    err, n = 0.0, 0
    for data in batches:
        inputs = dict(data['inputs'])
        if blank:
            inputs['imgs'] = torch.zeros_like(inputs['imgs'])
        for sample in model.predict(inputs, None):
            d = sample.depth  # the depth head's predictions
            m = d['eval_mask']
            gt, pred = d['gt_depth'][m], d['pred_depth'][m]
            err += float(((pred - gt).abs() / gt).sum())
            n += int(m.sum())
    return err / max(n, 1)


def monocular_structure(model, batches):
    """Of the monocular prediction (all RGB, no depth patch): the share of each image's log-depth variance that its
    row means explain (1 = the depth changes only from row to row: a ground-plane prior), and the mean
    |d mean log depth / d pixel| (0 = the image is disconnected)."""
    ss_row, ss_all, grad, n = 0.0, 0.0, 0.0, 0
    for data in batches:
        inputs = dict(data['inputs'])
        imgs = inputs['imgs'].clone().requires_grad_(True)
        inputs['imgs'] = imgs
        enc = model.encoder(
            inputs, model.num_frames, generator=torch.Generator().manual_seed(0), mask_ratio=0.0, depth_mask_ratio=1.0)
        out, _, dp, _ = model.heads['depth'].bottleneck(enc, inputs)
        logd = model.heads['depth'].head.predict_depth(out, dp).clamp(min=1e-3).log()
        g, = torch.autograd.grad(logd.mean(), imgs)
        p = logd.detach().flatten(0, -3)
        ss_row += float(((p.mean(-1, keepdim=True) - p.mean((-2, -1), keepdim=True))**2).sum()) * p.shape[-1]
        ss_all += float(((p - p.mean((-2, -1), keepdim=True))**2).sum())
        grad += float(g.abs().mean())
        n += 1
    return dict(row_prior_share=ss_row / max(ss_all, 1e-12), mean_abs_image_gradient=grad / max(n, 1))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='omit for the randomly initialised model')
    p.add_argument('--max-frames', type=int, default=None)
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    ds_cfg = cfg.val_dataloader.dataset
    if args.max_frames:
        ds_cfg.indices = args.max_frames
    dataset = DATASETS.build(ds_cfg)
    batches = [model.data_preprocessor(pseudo_collate([dataset[i]]), False) for i in range(len(dataset))]
    res = {name: score(model, batches, *c) for name, c in CONDITIONS.items()}
    res.update(monocular_structure(model, batches))
    res['frames'] = len(dataset)
    res['checkpoint'] = args.checkpoint or 'random init'
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
