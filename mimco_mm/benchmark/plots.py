"""PNG figures for the demo report: loss curves, k-NN during pre-training, accuracy bars, 2-D
feature embeddings."""
import json
import os
import os.path as osp
from typing import Dict, List

import matplotlib

matplotlib.use('Agg')  # no display on CPU boxes and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def read_runs(work_dir: str) -> List[List[dict]]:
    """The lines of each scalars.json MMEngine's LocalVisBackend wrote under work_dir (one per run
    started there: a first run, a resume, a rerun), oldest file first."""
    paths = [osp.join(d, 'scalars.json') for d, _, files in os.walk(work_dir)
             if 'scalars.json' in files]
    runs = []
    for path in sorted(paths, key=osp.getmtime):
        with open(path) as f:
            runs.append([json.loads(line) for line in f if line.strip()])
    return runs


def read_scalars(work_dir: str) -> List[dict]:
    """Every logged line under work_dir, oldest run first."""
    return [row for run in read_runs(work_dir) for row in run]


def curve(runs: List[List[dict]], key: str) -> List[tuple]:
    """[(iteration, value)] of `key` as the newest run sees it: each run replaces whatever older
    runs logged from its first iteration on, so a resume continues the curve and a rerun from
    iteration 1 replaces it entirely (a shorter rerun leaves no stale tail)."""
    points = {}
    for run in runs:  # oldest first
        mine = {row.get('step', row.get('iter')): row[key] for row in run if key in row}
        if mine:
            start = min(mine)
            points = {it: v for it, v in points.items() if it < start}
            points.update(mine)
    return sorted(points.items())


def loss_curves(runs: Dict[str, str], path: str) -> None:
    """One panel per pre-training run: every `loss*` key against the iteration."""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.2), squeeze=False)
    for ax, (name, work_dir) in zip(axes[0], runs.items()):
        runs = read_runs(work_dir)
        for key in sorted({k for run in runs for r in run for k in r if k.startswith('loss')}):
            ax.plot(*zip(*curve(runs, key)), label=key)
        ax.set_title(name)
        ax.set_xlabel('iteration')
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def knn_curves(runs: Dict[str, str], path: str) -> Dict[str, list]:
    """`knn/top1` logged by KNNMonitorHook during each pre-training run, against the iteration,
    all runs in one panel. Returns {run: [(iteration, top-1), ...]}."""
    curves = {}
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, work_dir in runs.items():
        points = curve(read_runs(work_dir), 'knn/top1')
        if not points:
            raise ValueError(f'{work_dir} logged no knn/top1: is KNNMonitorHook in the config\'s '
                             f'custom_hooks?')
        curves[name] = points
        ax.plot(*zip(*points), marker='o', label=name)
    ax.set_xlabel('iteration')
    ax.set_ylabel('k-NN top-1 (%)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return curves


def accuracy_bars(values: Dict[str, Dict[str, float]], path: str) -> None:
    """Grouped bars: values[metric][model] in percent."""
    metrics = list(values)
    models = list(next(iter(values.values())))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(metrics), 3.4))
    for i, model in enumerate(models):
        xs = np.arange(len(metrics)) + i * width
        heights = [values[m].get(model, 0.0) for m in metrics]
        bars = ax.bar(xs, heights, width, label=model)
        ax.bar_label(bars, fmt='%.1f', fontsize=7)
    ax.set_xticks(np.arange(len(metrics)) + width * (len(models) - 1) / 2, metrics)
    ax.set_ylabel('%')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pca_2d(features: torch.Tensor) -> np.ndarray:
    """(N, D) -> (N, 2): projection on the two leading principal components."""
    centred = features.float() - features.float().mean(dim=0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False)
    return (centred @ v[:, :2]).numpy()


def embeddings(features: Dict[str, torch.Tensor], labels: torch.Tensor, path: str) -> None:
    """One scatter per model of its L2-normalised features in 2-D (PCA), coloured by class."""
    fig, axes = plt.subplots(1, len(features), figsize=(3.4 * len(features), 3.4),
                             squeeze=False)
    for ax, (name, feats) in zip(axes[0], features.items()):
        xy = pca_2d(torch.nn.functional.normalize(feats, dim=1))
        ax.scatter(xy[:, 0], xy[:, 1], c=labels.numpy(), cmap='tab10', s=4)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
