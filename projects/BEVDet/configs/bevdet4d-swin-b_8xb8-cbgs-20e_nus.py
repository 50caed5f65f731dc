# BEVDet4D (Huang & Huang, 2022, https://arxiv.org/abs/2203.17054) with a Swin-B backbone (mmpretrain,
# ImageNet-1k): the previous key frame's BEV (80 ch), aligned to the current frame by ego motion, is
# concatenated with the current one before the BEV encoder. This is the ImageNet baseline of the GeoMIM
# paper's BEVDet4D Swin-B 256x704 row (33.98 mAP / 47.19 NDS on nuScenes val).
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py']

bev_channels = 80
num_adjacent = 1
model = dict(
    type='BEVDet4D',
    num_adjacent=num_adjacent,
    # official per-frame BEV net (master and dev2.0): two BasicBlocks at stride 1 before the alignment
    pre_process=dict(type='BEVResNet', in_channels=bev_channels, num_layers=[2], num_channels=[bev_channels],
                     strides=[1]),
    img_backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer', arch='base', img_size=224, out_indices=(2, 3), drop_path_rate=0.2,
        with_cp=True, pad_small_map=True,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='https://download.openmmlab.com/mmclassification/v0/swin-transformer/'
                      'swin_base_224_b16x64_300e_imagenet_20210616_190742-93230b0d.pth')),
    img_neck=dict(in_channels=[512, 1024]),
    img_view_transformer=dict(out_channels=bev_channels),
    img_bev_encoder_backbone=dict(in_channels=bev_channels * (1 + num_adjacent),
                                  num_channels=[bev_channels * 2, bev_channels * 4, bev_channels * 8]),
    img_bev_encoder_neck=dict(in_channels=bev_channels * 8 + bev_channels * 2))

train_dataloader = dict(dataset=dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent)))
val_dataloader = dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent))
test_dataloader = val_dataloader
test_dataloader = val_dataloader

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, backbone='img_backbone', norm_decay_mult=0.0,
                       custom_keys={'absolute_pos_embed': dict(decay_mult=0.0),
                                    'relative_position_bias_table': dict(decay_mult=0.0)}))
