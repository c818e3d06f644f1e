# Stage-2 schedule of the CPU variants (MimCo and its SimMIM control alike): cpu_tiny.py with
# lr 3e-3 (on MNIST-5k MimCo k-NN went from 46.9 at 1e-3 to 52.2), and the student's k-NN
# top-1 and a logistic regression's logged during training (KNNMonitorHook, docs/method.md
# "What is logged"): bank = the training folder's train/, queries = its val/ (data_root None = the
# training set's), k = 20, every 3 epochs and after the last.
_base_ = ['./cpu_tiny.py', '../datasets/folder_tiny_cls.py']

optim_wrapper = dict(optimizer=dict(lr=3e-3))

monitor_loader = dict(
    batch_size=256, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=None, data_prefix='train',
                 pipeline={{_base_.tiny_test_pipeline}}))
custom_hooks = _base_.custom_hooks + [
    dict(type='KNNMonitorHook', interval=3, k=20, logreg=dict(), bank_dataloader=monitor_loader,
         query_dataloader=dict(monitor_loader, dataset=dict(monitor_loader['dataset'],
                                                            data_prefix='val')))]
