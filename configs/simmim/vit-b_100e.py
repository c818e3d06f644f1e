# The MIM-only control for configs/mimco/vit-b_100e.py: the same ViT-B/16 student, data, schedule
# and batch, SimMIM's pixel target (see vit-s_100e.py beside this file).
_base_ = './vit-s_100e.py'

model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.1),  # as the MimCo ViT-B student
    neck=dict(in_channels=768))
