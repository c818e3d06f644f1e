# Ablation of the loss weights (default w_p = w_i = 1): w_i = 0.5.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(img_weight=0.5))
