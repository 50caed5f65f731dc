"""The transfer table's dense-task columns: ``--tasks occ seg`` fine-tunes the row backbone's occupancy and
BEV-segmentation small configs with the row's initialisation and reads their metrics from the runs' scalars."""
import json
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import transfer_table as tt  # noqa: E402


def test_dense_task_columns(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(tt, 'ROOT', str(tmp_path))

    def fake_run(cmd, log_path):
        calls.append(cmd)
        work = cmd[cmd.index('--work-dir') + 1]
        vis = tmp_path / work / '20261207_000000' / 'vis_data'
        vis.mkdir(parents=True, exist_ok=True)
        value = {'occ': {'occ3d/mIoU': 12.5}, 'seg': {'bev_seg/mean/iou@max': 0.31}}
        rows = [dict(step=1, **v) for k, v in value.items() if f'/{k}_seed' in work] or [dict(step=1)]
        if 'probe' in work:
            (tmp_path / work).mkdir(parents=True, exist_ok=True)
            (tmp_path / work / 'probe_3d.json').write_text('{}')
        if 'finetune_seed' in work:
            rows = [{
                'NuScenes metric/pred_instances_3d_NuScenes/NDS': 0.1,
                'NuScenes metric/pred_instances_3d_NuScenes/mAP': 0.05
            }]
        with open(vis / 'scalars.json', 'w') as f:
            f.write('\n'.join(json.dumps(r) for r in rows))
        return 1.0

    monkeypatch.setattr(tt, 'run', fake_run)
    args = tt.parse_args(['--tasks', 'occ', 'seg', '--seeds', '0'])
    row = dict(tt.MINI_ROWS['geomim'], pretrain=[])
    res = tt.do_row('geomim', row, args, str(tmp_path / 'out'))
    assert res['tasks'] == {'Occ mIoU': [12.5], 'BEV-seg IoU': [0.31]}
    dense = [c for c in calls if any('occ' in a or 'seg-swin' in a for a in c)]
    assert len(dense) == 2
    for cmd in dense:  # the row's own initialisation reaches the dense fine-tunes
        assert f'model.img_backbone.init_cfg.checkpoint={row["checkpoint"]}' in cmd
        assert 'model.img_backbone.init_cfg.prefix=encoder.backbone.' in cmd
    vit = tt.do_row('mask3d-nus', dict(tt.MINI_ROWS['mask3d-nus'], pretrain=[]), args, str(tmp_path / 'out'))
    assert 'tasks' not in vit  # no dense small config for ViT-tiny: empty columns
    table = tt.metric_table([res, vit])
    assert table['geomim']['Occ mIoU'] == (12.5, 0.0, True) and 'Occ mIoU' not in table['mask3d-nus']
    tt.write_outputs([res, vit], args, 'out/table')
    md = (tmp_path / 'out' / 'table.md').read_text()
    assert '| Occ mIoU | BEV-seg IoU |' in md and '12.5000 ± 0.0000' in md
