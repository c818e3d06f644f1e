# Stage-2 schedule of the CPU variants (MimCo and its SimMIM control alike): cpu_tiny.py with
# lr 3e-3 (on the demo data MimCo k-NN went from 46.9 at 1e-3 to 52.2).
_base_ = './cpu_tiny.py'

optim_wrapper = dict(optimizer=dict(lr=3e-3))
