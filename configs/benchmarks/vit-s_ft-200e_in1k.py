# ImageNet-1K end-to-end fine-tune of a ViT-S/16 MimCo student, 200 epochs: the ViT-B recipe of
# vit-b_ft-100e_in1k.py with layer decay 0.75 (the common ViT-S choice, e.g. iBOT / CAE; the MimCo
# paper's own fine-tune recipe is not available to us) and 200 epochs (5 warm-up + cosine).
_base_ = './vit-b_ft-100e_in1k.py'

pretrained = 'work_dirs/mimco/vit-s_100e/epoch_100.pth'
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=384, num_layers=12, num_heads=6,
                            feedforward_channels=1536),
                  init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=384))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
max_epochs = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, by_epoch=True, begin=5, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
