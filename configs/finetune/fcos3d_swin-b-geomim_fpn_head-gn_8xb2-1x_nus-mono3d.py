# mmdet3d's own FCOS3D (its core config, inherited by its mmdet3d:: path: nothing of ours but the backbone) with the
# GeoMIM-pretrained Swin-B. The swap, for any mmdet3d config:
#   1. custom_imports of the plugin (it only registers modules; no name clashes with mmdet3d or its projects);
#   2. img_backbone / backbone: the pretrained architecture, init_cfg from extract_backbone.py's backbone.pth with
#      prefix 'backbone.' (the same for every pretraining of this project);
#   3. the data preprocessor normalises as the pretraining did: ImageNet RGB statistics on BGR-loaded images
#      (bgr_to_rgb=True), not FCOS3D's caffe-style BGR (mean [103.53, 116.28, 123.675], std 1) that its
#      ResNet-101 expects;
#   4. the neck takes the backbone's maps: GeoMIM pretrains stages 3 and 4 (strides 16 / 32 px, 512 / 1024 ch) with
#      their output norms, so those are used (every backbone weight pretrained) and FPN adds three levels; the head's
#      strides follow (16 ... 256 instead of 8 ... 128; the regression ranges are FCOS3D's).
#   5. AdamW with layer-wise lr decay, as transformer backbones fine-tune (FCOS3D's SGD 2e-3 suits its ResNet).
#   python tools/train.py configs/geomim/geomim_swin-b_16xb2-50e_nus.py   (or the official weights:
#       tools/model_converters/geomim_official_to_mim3d.py OFFICIAL.pth work_dirs/.../backbone.pth --backbone-only)
#   python tools/model_converters/extract_backbone.py work_dirs/geomim_swin-b_16xb2-50e_nus
#   bash tools/dist_train.sh configs/finetune/fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py 8
_base_ = ['mmdet3d::fcos3d/fcos3d_r101-caffe-dcn_fpn_head-gn_8xb2-1x_nus-mono3d.py']
custom_imports = dict(imports=['mim3d_plugin'], allow_failed_imports=False)

pretrain_config = 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'
pretrained_backbone = 'work_dirs/geomim_swin-b_16xb2-50e_nus/backbone.pth'
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch='base',
        img_size=224,  # the pretraining's position embedding grid; interpolated to the input
        window_size=(16, 16, 16, 8),
        out_indices=(2, 3),
        drop_path_rate=0.2,
        use_checkpoint=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    neck=dict(in_channels=[512, 1024], start_level=0, num_outs=5),
    bbox_head=dict(strides=[16, 32, 64, 128, 256]))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        backbone='backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=35, norm_type=2))
