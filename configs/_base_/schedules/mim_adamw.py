# Stage-2 optimisation, shared by MimCo and the SimMIM control. The MimCo paper gives no recipe:
# AdamW, lr 1e-4 per 512 images (SimMIM's base rate), wd 0.05, 10 warm-up epochs then cosine,
# gradient clipping at 3.0 (BEiT), no weight decay on norms, biases, tokens and position embedding.
# bf16 autocast (no loss scaling needed).
max_epochs = 100
warmup_epochs = 10
total_batch = 2048  # 8 GPUs x 256

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=1e-4 * total_batch / 512, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'mask_token': dict(decay_mult=0.0),
        }))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

# mid-epoch checkpoints resume exactly (mimco_mm/engine/resumable_loop.py)
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=total_batch)
