# Ablation of the patch-level negatives: every patch of every image in the local batch
# (default: the other patches of the same image, as in ConMIM).
_base_ = '../vit-s_100e.py'

model = dict(head=dict(patch_loss=dict(negatives='batch')))
