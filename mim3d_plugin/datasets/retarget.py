"""Point a config's datasets and evaluators at another nuScenes root and info-file folder (e.g. a paper config
at the bundled v1.0-mini frames), without editing the config."""
import os.path as osp


def retarget_data(cfg, nus_root: str, info_dir: str):
    """Point every dataset / evaluator of ``cfg`` at ``nus_root`` (data_prefix paths) and ``info_dir`` (info files).

    Every ``ann_file`` ending in ``.pkl`` becomes ``info_dir/<its file name>`` (``data_root`` emptied), every
    ``data_prefix`` path is re-rooted at ``nus_root`` (the part after ``nuscenes/`` kept), and ``NuScenesMetric``
    reads the tables under ``nus_root``. ``cfg`` is changed in place and returned.
    """

    def walk(node):
        if isinstance(node, dict):
            if 'ann_file' in node and isinstance(node['ann_file'], str) and node['ann_file'].endswith('.pkl'):
                node['ann_file'] = osp.join(info_dir, osp.basename(node['ann_file']))
                if 'data_root' in node:
                    node['data_root'] = ''
            if isinstance(node.get('data_prefix'), dict):
                node['data_prefix'] = {
                    k: (osp.join(nus_root,
                                 v.split('nuscenes/', 1)[-1]) if isinstance(v, str) else v)
                    for k, v in node['data_prefix'].items()
                }
            if node.get('type') == 'NuScenesMetric':
                node['data_root'] = nus_root
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator'):
        if cfg.get(key) is not None:
            walk(cfg[key])
    return cfg
