# Ablation of the InfoNCE temperatures (default tau_p = tau_i = 0.2, MoCo v3's): both 0.1.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(patch_loss=dict(temperature=0.1), img_loss=dict(temperature=0.1)))
