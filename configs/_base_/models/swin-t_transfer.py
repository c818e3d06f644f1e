# The Swin-T backbone of every Swin transfer config: the student of a MimCo / SimMIM Swin-T
# checkpoint as mmpretrain's SwinTransformer (its own class and parameter names, so nothing is
# renamed), all four stages out, loaded strictly from `backbone.`: only the norms of stages 0-2
# are new (pre-training normalised the last stage only) and the mask token is left unused.
swin_t_pretrained = 'work_dirs/mimco/swin-t_100e/epoch_100.pth'  # stage 2
swin_t_student = dict(
    _delete_=True,
    type='mmpretrain.SwinTransformer',
    arch='tiny',  # 96 dims, depths 2/2/6/2, heads 3/6/12/24, window 7
    img_size=224,
    drop_path_rate=0.2,  # mmdet's Swin-T detectors
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint=swin_t_pretrained, prefix='backbone.',
                  strict=True, allow_missing=['norm0.*', 'norm1.*', 'norm2.*'],
                  allow_unexpected=['mask_token']))
swin_t_student_seg = dict(swin_t_student, drop_path_rate=0.3)  # mmseg's Swin-T UPerNet
