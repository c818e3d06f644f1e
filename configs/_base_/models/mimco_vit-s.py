# MimCo, ViT-S/16 student, MoCo v3 ViT-S/16 teacher (the paper's headline setting).
# Student: DeiT-S (6 heads); the 12-head MoCo v3 variant is ablations/student_12heads.py.
# Teacher: MoCoV3ViT 'mocov3-small' (12 heads), patch targets = last-layer tokens after the final
# norm, global target = its CLS token (ablations/global_projector.py: the projector output).
student_dims = 384
teacher_dims = 384

model = dict(
    type='MimCo',
    backbone=dict(type='MimCoViT', arch='deit-small', img_size=224, patch_size=16,
                  drop_path_rate=0.0, out_type='raw'),
    teacher=dict(
        type='ContrastiveTeacher',
        backbone=dict(type='MoCoV3ViT', arch='mocov3-small', img_size=224, patch_size=16,
                      out_type='raw'),
        # stage 1 written by `tools/train.py configs/mocov3/vit-s_300e.py`, or an official MoCo v3
        # checkpoint converted by tools/model_converters/mocov3_to_mmpretrain.py
        checkpoint='work_dirs/mocov3/vit-s_300e/epoch_300.pth',
        backbone_prefix='backbone.',
        global_target='cls'),
    head=dict(
        type='MimCoHead',
        patch_proj=dict(type='MLPProjector', in_channels=student_dims, hid_channels=2048,
                        out_channels=teacher_dims, num_layers=2, norm='LN'),
        patch_loss=dict(type='PatchInfoNCE', temperature=0.2, negatives='image'),
        img_proj=dict(type='MLPProjector', in_channels=student_dims, hid_channels=2048,
                      out_channels=teacher_dims, num_layers=2, norm='BN'),
        img_loss=dict(type='ImageInfoNCE', temperature=0.2),
        patch_weight=1.0,
        img_weight=1.0))
