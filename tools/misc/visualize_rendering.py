"""Render one view of a nuScenes key frame with a trained MIM4D model and save a figure.

Panels: camera image (the target), LiDAR depth projected into it, and the depth and RGB rendered from
the pseudo-3D volume (built from the earlier frames only) and from the frame's own (masked) volume.

    python tools/misc/visualize_rendering.py CONFIG CHECKPOINT [--index 20] [--camera 0] [--stride 2] \
        [--out docs/mim4d/rendering_cam_front.png]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

import mim3d_plugin  # noqa: F401,E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--index', type=int, default=20, help='dataset index of the target key frame')
    parser.add_argument('--camera', type=int, default=0, help='view index (0 = CAM_FRONT)')
    parser.add_argument('--stride', type=int, default=2, help='render every stride-th pixel')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ann-file', help='info file to read the frame from (default: the config\'s train infos)')
    parser.add_argument('--out', default='docs/mim4d/rendering_cam_front.png')
    args = parser.parse_args()

    init_default_scope('mmdet3d')
    torch.manual_seed(args.seed)
    cfg = Config.fromfile(args.config)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.pipeline[0].frame_pipeline[1]['test_mode'] = True  # deterministic resize/crop, no flip/rotation
    ds_cfg.test_mode = True
    if args.ann_file:
        ds_cfg.ann_file = args.ann_file
    dataset = DATASETS.build(ds_cfg)
    cfg.model.heads.render.render_head.image_stride = args.stride
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    render = model.heads['render']  # the TemporalRenderingHead of a MIM4D (or hybrid) MaskedPretrainer
    data = model.data_preprocessor(pseudo_collate([dataset[args.index]]), False)
    with torch.no_grad():
        out = model(**data, mode='predict')[0].render
    meta = data['data_samples'][0].metainfo
    c, s = args.camera, args.stride
    cam = meta['cam_names'][c] if 'cam_names' in meta else f'view {c}'
    lidar = out['depth_target'][c].numpy()
    full_depth = data['inputs']['depth'][0, -len(out['rgb_target']):][c]
    # LiDAR depth at the render lattice: nearest hit inside each stride x stride cell, for display
    h, w = lidar.shape

    def nearest_per_cell(depth):
        cells = depth[:h * s, :w * s].reshape(h, s, w, s).permute(0, 2, 1, 3).reshape(h, w, -1)
        cells = torch.where(cells > 0, cells, torch.full_like(cells, float('inf'))).amin(-1)
        return torch.where(torch.isinf(cells), torch.zeros_like(cells), cells).numpy()

    lidar = nearest_per_cell(full_depth)
    # the LiDAR points the head trains on (inside the volume, within target_radius)
    unpacked = render.unpack(data['inputs'], model.stack_geometry(data['inputs'], data['data_samples']))
    valid = render.render_head.target_mask(unpacked['src2img'][:, -1], unpacked['depth'][:, -1])[0, c]
    lidar_t = nearest_per_cell(full_depth * valid)
    vmax = 50.0
    panels = [
        ('camera image (target)', out['rgb_target'][c].numpy(), None),
        ('LiDAR depth (m)', np.ma.masked_where(lidar <= 0, lidar), 'depth'),
        ('rendered depth, pseudo-3D (m)', out['depth_pseudo'][c].numpy(), 'depth'),
        ('rendered depth, own volume (m)', out['depth_cur'][c].numpy(), 'depth'),
        ('rendered RGB, pseudo-3D', out['rgb_pseudo'][c].clamp(0, 1).numpy(), None),
        ('rendered RGB, own volume', out['rgb_cur'][c].clamp(0, 1).numpy(), None),
    ]
    fig, axes = plt.subplots(3, 2, figsize=(12, 8))
    for ax, (title, img, kind) in zip(axes.flat, panels):
        if kind == 'depth':
            im = ax.imshow(img, cmap='turbo_r', vmin=0, vmax=vmax, interpolation='nearest')
            fig.colorbar(im, ax=ax, fraction=0.025)
        else:
            ax.imshow(img, interpolation='nearest')
        ax.set_title(title)
        ax.axis('off')
    hit, tgt = lidar > 0, lidar_t > 0
    err_p = np.abs(out['depth_pseudo'][c].numpy()[hit] - lidar[hit]).mean()
    err_c = np.abs(out['depth_cur'][c].numpy()[hit] - lidar[hit]).mean()
    err_pt = np.abs(out['depth_pseudo'][c].numpy()[tgt] - lidar_t[tgt]).mean()
    err_ct = np.abs(out['depth_cur'][c].numpy()[tgt] - lidar_t[tgt]).mean()
    fig.suptitle(f'MIM4D, {cam}, key frame {meta.get("token", "")[:8]} (frames valid: '
                 f'{np.asarray(meta["frame_valid"]).tolist()})\ndepth L1 at LiDAR targets (3-50 m, in the volume): '
                 f'pseudo-3D {err_pt:.2f} m, own {err_ct:.2f} m')
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f'saved {args.out}; depth L1 (m) at LiDAR targets: pseudo-3D {err_pt:.3f}, own {err_ct:.3f} '
          f'({tgt.sum()} cells); at all LiDAR pixels: pseudo-3D {err_p:.3f}, own {err_c:.3f} ({hit.sum()} cells)')


if __name__ == '__main__':
    main()
