# MimCo ViT-S/16 on ONE GPU with the update of vit-s_100e.py on 8 (docs/pretrain.md
# "Fewer GPUs: micro-batches"): the loader gives the whole batch of 2048 per step, the student takes it in 8
# micro-batches of 256 (strided like 8 ranks), the image loss keeps its 2047 negatives and
# BatchNorm its groups of 256, one optimizer step per 2048 images
# (mimco_mm/models/micro_batches.py).
# Same lr, same schedule, same checkpoints; 8x the time per step of one of the 8 GPUs.
#
#   python tools/train.py configs/mimco/vit-s_100e_1gpu.py \
#       --cfg-options model.teacher.checkpoint=work_dirs/mocov3/vit-s_300e/epoch_300.pth
#
# Host memory: a batch of 2048 uint8 crops is 308 MB, and each worker holds prefetch_factor
# batches in shared memory (16 workers x 1 = ~5 GB of /dev/shm). For 2 or 4 GPUs keep the total:
# batch_size=1024 / 512 and micro_batches=4 / 2 with tools/dist_train.sh.
_base_ = './vit-s_100e.py'

model = dict(micro_batches=8)
train_dataloader = dict(batch_size=2048, num_workers=16, prefetch_factor=1)
