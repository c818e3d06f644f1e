# The Recall@K protocol of vit-s_retrieval-recall_folder.py on the CPU (tests, `make demo`): the
# 4-layer 64-d ViT of configs/mimco/vit-tiny_cpu.py on data/demo/val.
_base_ = ['./vit-s_retrieval-recall_folder.py', '../_base_/datasets/folder_tiny_cls.py']

pretrained = 'work_dirs/mimco/vit-tiny_cpu/epoch_20.pth'
model = dict(backbone=dict(
    arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
    img_size=32, patch_size=4, init_cfg=dict(checkpoint=pretrained)))
test_dataloader = dict(num_workers=0, dataset=dict(data_root='data/demo', data_prefix='val',
                                                   pipeline={{_base_.tiny_test_pipeline}}))
