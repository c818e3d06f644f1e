# Ablation: no image-level loss (w_i = 0). The paper credits the image-level loss with the
# linear separability; this run shows what is left without it.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(img_weight=0.0))
