# The linear-probe protocol of vit-s_linear-90e_in1k.py on the CPU (tests, `make demo`): frozen
# 4-layer 64-d ViT of configs/mimco/vit-tiny_cpu.py, linear head on its CLS token, trained on
# data/demo/train and evaluated on data/demo/val (the demo sets num_classes from the folder).
# SGD as MoCo v3, scaled to the size.
_base_ = ['./vit-s_linear-90e_in1k.py', '../_base_/datasets/folder_tiny_cls.py']

pretrained = 'work_dirs/mimco/vit-tiny_cpu/epoch_20.pth'
num_classes = 10
model = dict(
    backbone=dict(arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
                  img_size=32, patch_size=4, frozen_stages=4, init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=num_classes, in_channels=64))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='data/demo', data_prefix='train',
                 pipeline={{_base_.tiny_train_pipeline}}))
val_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='data/demo', data_prefix='val',
                 pipeline={{_base_.tiny_test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
max_epochs = 10
optim_wrapper = dict(optimizer=dict(lr=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0,
                        end=max_epochs)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs))
