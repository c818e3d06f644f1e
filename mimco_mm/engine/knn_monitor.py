"""`KNNMonitorHook`: the student's k-NN accuracy (and a logistic regression's) during
pre-training, so a long run shows whether it is going anywhere before it ends (the loss alone
does not).

Every `interval` epochs and after the last one, the student (the model's `extract_feat`, in eval
mode, no gradients) embeds a small labelled bank and a query set; each query votes with its k
nearest bank features exactly as tools/knn.py does (DINO's weighted vote, cosine similarity,
T 0.07), and a logistic regression fitted to the bank classifies the queries as tools/knn.py's
`knn.logreg` does (mimco_mm/evaluation/logreg.py: L-BFGS, its L2 strength chosen on held-out
bank images). `knn/top1` and `logreg/top1` go to the message hub, the log and every visualizer
backend (JSON scalars, TensorBoard), and with `save_best=True` the epoch with the best
`knn/top1` is kept as `best_knn_top1.pth`.
Across processes each one embeds every world_size-th image (nothing padded), the bank is
gathered, each votes for its own queries, and the hit counts are summed, so the number equals a
single process's. The vote runs on the model's device, 1024 queries at a time.
"""
import copy
import os.path as osp
import time
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mimco_mm.compat import load_checkpoint_file
from mimco_mm.evaluation.distributed import shard_sampler, world
from mimco_mm.evaluation.features import normalised_batches
from mimco_mm.evaluation.knn import knn_across_processes
from mimco_mm.evaluation.logreg import check_settings, logreg_across_processes

from .hang_watchdog import keep_alive
from .preemption import shield_from_job_signals


def global_features(model, inputs):
    """(B, C) image features of the student: the CLS token of a ViT's last output (after its
    final norm), or the mean over tokens / positions of a backbone without one (Swin)."""
    out = model.extract_feat(inputs)
    out = out[-1] if isinstance(out, (tuple, list)) else out
    if out.dim() == 4:  # (B, C, H, W)
        return out.mean(dim=(2, 3))
    if out.dim() == 3:  # (B, tokens, C)
        has_cls = getattr(getattr(model, 'backbone', None), 'cls_token', None) is not None
        return out[:, 0] if has_cls else out.mean(dim=1)
    return out


@torch.no_grad()
def embed(model, dataloader):
    """Features (N, C) and labels (N,) of this process's share of a labelled dataloader, the
    images normalised as the student's data preprocessor does (that preprocessor itself, the
    self-supervised one, expects lists of views, not a plain classification batch)."""
    pre = model.data_preprocessor
    normalise = getattr(pre, '_enable_normalize', False)
    device = next(model.parameters()).device
    feats, labels = [], []
    for images, batch_labels in normalised_batches(
            dataloader, pre.mean if normalise else None, pre.std if normalise else None,
            to_rgb=getattr(pre, '_channel_conversion', False), device=device):
        feats.append(global_features(model, images).float())
        labels.append(batch_labels)
        keep_alive()  # a pass over a large bank is progress, not a hang
    return (torch.cat(feats) if feats else torch.zeros(0, 1, device=device),
            torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=device))


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Args:
        bank_dataloader / query_dataloader: dataloader configs of labelled sets (e.g. 100
            ImageNet classes x 50 train images, and their val images), test-time transforms.
            A dataset whose `data_root` is None reads the training set's `data_root` (so
            the CPU configs follow `--cfg-options train_dataloader.dataset.data_root=...`).
        interval: every this many epochs (and after the last); -1: never (MMEngine's convention
            for CheckpointHook), e.g. to switch a config's monitor off from --cfg-options.
        k: neighbours of the logged vote (`knn/top1`); temperature: of the vote weights.
        logreg: keyword arguments of the logistic regression (`grid` of L2 strengths, `holdout`,
            `max_iter`; mimco_mm/evaluation/logreg.py), {} for its defaults; None: k-NN only.
        save_best: keep the checkpoint of the best `knn/top1` as best_knn_top1.pth. The queries
            then choose the checkpoint, so their number for it is optimistic: select on queries
            that are not the set you report (e.g. held-out train images).
    """

    # After CheckpointHook (VERY_LOW): the epoch's checkpoint is on disk before the evaluation,
    # so an error in it or a preemption while it runs costs no training.
    priority = 'LOWEST'

    def __init__(self, bank_dataloader: dict, query_dataloader: dict, interval: int = 1,
                 k: int = 20, temperature: float = 0.07, logreg: Optional[dict] = None,
                 save_best: bool = False):
        if (interval < 1 and interval != -1) or k < 1:
            raise ValueError(f'KNNMonitorHook: interval must be >= 1 or -1 (off) and k >= 1, '
                             f'got {interval}, {k}')
        self.logreg = None if logreg is None else check_settings(logreg, 'KNNMonitorHook')
        self.bank_cfg, self.query_cfg = bank_dataloader, query_dataloader
        self.interval, self.k, self.temperature = interval, k, temperature
        self.save_best = save_best
        self.best = None
        self._loaders = None

    def _build_loaders(self, runner):
        if self._loaders is None:
            cfgs = [copy.deepcopy(c) for c in (self.bank_cfg, self.query_cfg)]
            for cfg in cfgs:
                if cfg['dataset'].get('data_root', '') is None:
                    root = runner.cfg.train_dataloader.dataset.get('data_root')
                    if root is None:
                        raise ValueError(
                            'KNNMonitorHook: a dataset with data_root=None reads the training '
                            'set\'s data_root, but train_dataloader.dataset has none: set the '
                            'monitor\'s data_root, or interval=-1 to switch it off')
                    cfg['dataset']['data_root'] = root
            if world()[1] > 1:
                cfgs = [shard_sampler(c) for c in cfgs]
            self._loaders = [runner.build_dataloader(c, seed=0) for c in cfgs]
            for loader in self._loaders:  # a preemption signal must not kill their workers
                shield_from_job_signals(runner, loader)
        return self._loaders

    BEST_FILE = 'best_knn_top1.pth'

    def before_train(self, runner):
        """A resumed run continues the run it resumes, best epoch included: the top-1 recorded
        in its best_knn_top1.pth is the one to beat (not nothing, which let the first epoch
        after a preemption replace a better file). A fresh run (no iterations done) starts
        from nothing, whatever an earlier run left in the work dir."""
        path = osp.join(runner.work_dir, self.BEST_FILE)
        if self.save_best and runner.iter > 0 and osp.isfile(path):
            self.best = load_checkpoint_file(path)['meta']['knn_top1']

    def evaluate(self, model, bank_loader, query_loader):
        """{'knn/top1': %, 'knn/top5': %} of `model`'s current features."""
        from mmengine.model import is_model_wrapper
        model = model.module if is_model_wrapper(model) else model
        was_training = model.training
        model.eval()
        try:
            bank, bank_y = embed(model, bank_loader)
            query, query_y = embed(model, query_loader)
        finally:
            model.train(was_training)
        # a k larger than the gathered bank is an error there (mimco_mm/evaluation/knn.py)
        metrics = knn_across_processes(bank, bank_y, query, query_y, (self.k, ), self.temperature)
        results = {'knn/top1': metrics[f'knn/top1_k{self.k}'],
                   'knn/top5': metrics[f'knn/top5_k{self.k}']}
        if self.logreg is not None:
            results.update(logreg_across_processes(bank, bank_y, query, query_y, **self.logreg))
        return results

    def after_train_epoch(self, runner):
        if self.interval == -1:
            return
        last = runner.epoch + 1 >= runner.max_epochs  # the loop counts the epoch after its hooks
        if not (self.every_n_epochs(runner, self.interval) or last):
            return
        start = time.perf_counter()
        metrics = self.evaluate(runner.model, *self._build_loaders(runner))
        seconds = time.perf_counter() - start
        for key, value in metrics.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(dict(metrics, **{'knn/seconds': seconds}),
                                      step=runner.iter)
        logreg = '' if self.logreg is None else (
            f'; logistic regression top-1 {metrics["logreg/top1"]:.2f} '
            f'(L2 {metrics["logreg/l2"]:g})')
        runner.logger.info(f'Epoch {runner.epoch + 1}: k-NN (k={self.k}) top-1 '
                           f'{metrics["knn/top1"]:.2f}, top-5 {metrics["knn/top5"]:.2f}{logreg} '
                           f'({seconds:.1f} s)')
        if self.save_best and (self.best is None or metrics['knn/top1'] > self.best):
            self.best = metrics['knn/top1']
            runner.save_checkpoint(runner.work_dir, self.BEST_FILE, save_optimizer=False,
                                   save_param_scheduler=False,
                                   meta=dict(knn_top1=self.best, knn_epoch=runner.epoch + 1))
