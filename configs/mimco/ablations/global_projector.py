# Ablation of the global target: the teacher's own MoCo v3 projector output (256-d) instead of its
# CLS token. The projector (NonLinearNeck with BatchNorm, kept in eval mode) loads from `neck.`.
_base_ = '../vit-s_100e.py'

model = dict(
    teacher=dict(
        global_target='projector',
        neck_prefix='neck.',
        neck=dict(type='NonLinearNeck', in_channels=384, hid_channels=4096, out_channels=256,
                  num_layers=3, with_bias=False, with_last_bn=True, with_last_bn_affine=False,
                  with_last_bias=False, with_avg_pool=False)),
    head=dict(img_proj=dict(out_channels=256)))
