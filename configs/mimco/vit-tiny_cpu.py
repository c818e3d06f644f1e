# MimCo on the CPU (tests, `make demo`): the recipe of vit-s_100e.py scaled down to a 4-layer
# 64-d ViT on 32-px images. The teacher is the stage-1 checkpoint of configs/mocov3/vit-tiny_cpu.py.
# Tuned on the demo's former data (MNIST-5k val k-NN, the split the demo reported: a demo, not a
# benchmark): mask 0.4, lr 3e-3 (both shared with the SimMIM control) and tau 0.1 took k-NN from
# 46.9 to 60.9. Not re-tuned for today's default data (scikit-image photo crops).
_base_ = [
    '../_base_/models/vit_tiny_cpu.py',
    '../_base_/datasets/folder_tiny_mim.py',
    '../_base_/schedules/cpu_tiny_mim.py',  # includes the runtime
]

model = dict(
    type='MimCo',
    backbone=dict(type='MimCoViT', arch={{_base_.tiny_arch}}, img_size=32,
                  patch_size=4, out_type='raw'),
    teacher=dict(type='ContrastiveTeacher',
                 backbone=dict(type='MoCoV3ViT', arch={{_base_.tiny_arch}}, img_size=32,
                               patch_size=4, out_type='raw'),
                 checkpoint='work_dirs/mocov3/vit-tiny_cpu/epoch_20.pth',
                 global_target='cls'),
    head=dict(type='MimCoHead',
              patch_proj=dict(type='MLPProjector', in_channels=64, hid_channels=256,
                              out_channels=64, norm='LN'),
              patch_loss=dict(type='PatchInfoNCE', temperature=0.1),
              img_proj=dict(type='MLPProjector', in_channels=64, hid_channels=256,
                            out_channels=64, norm='BN'),
              img_loss=dict(type='ImageInfoNCE', temperature=0.1)))
