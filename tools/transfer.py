"""Every downstream job from one pre-training checkpoint (what `tools/transfer.sh` runs).

    tools/transfer.sh CHECKPOINT GPUS        (= python tools/transfer.py CHECKPOINT GPUS)

Each job writes work_dirs/<name>/<task>/ (logs, checkpoints) and its metrics to
work_dirs/<name>/<task>/metrics.json, which tools/benchmark.py collects. <name> defaults to the
checkpoint's two parent folders (work_dirs/mimco/vit-s_100e/epoch_100.pth -> mimco_vit-s_100e).

Environment:
  ARCH=vit-s|vit-b|swin-t|vit-tiny   which benchmark configs (vit-tiny: the CPU variants; swin-t:
                              COCO 1x, multi-scale 1x, 3x and ADE20K only). Default: read from
                              the architecture the checkpoint records; a head count other than
                              the configs' (a 12-head ViT-S: MoCo v3's, or the student_12heads
                              ablation) is passed to every job as model.backbone.arch.num_heads=N
  TASKS="ft ft_ibot linear knn roxford roxford_ibot rparis recall coco coco_cascade coco1x_ms
         coco3x ade"          a subset (default: all)
  NAME=...                    the folder under WORK_ROOT
  CFG_OPTIONS="k=v ..."       extra --cfg-options for every job (e.g. data roots), and
  CFG_OPTIONS_<task>="k=v ..." extra --cfg-options for that task only
  WORK_ROOT=work_dirs
  TENSORBOARD=1               the trained tasks also log to TensorBoard
                              (tools/train.py --tensorboard)
  PYTHON=...                  the interpreter of the frozen-feature tools (default: this one)

Reruns (after a preemption, a crash, or to add tasks) continue where the last run stopped: each
task's folder records the sha256 of the pre-training checkpoint it belongs to (pretrained.sha256).
A task with metrics.json is skipped; a task whose training was interrupted resumes from its last
checkpoint (--resume); a folder of another checkpoint, or of unknown origin, stops the run before
anything in it is touched.

Preemption: SIGUSR1 or SIGTERM to this process (`sbatch --signal=B:USR1@300` signals the batch
shell only) is passed on to the job that runs, whose training writes its checkpoint. Then no
further job starts and the exit status is 75, as tools/slurm_train.sh's (130 after Ctrl-C, whose
SIGINT the job ignores and gets as SIGTERM); a rerun continues.
"""
import os
import os.path as osp
import signal
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # mimco_mm, imported where a step needs it
PREEMPTED = 75
ALL_TASKS = ('ft ft_ibot linear knn roxford roxford_ibot rparis recall coco coco_cascade coco1x_ms '
             'coco3x ade')
# train, then test
TRAINED = ('ft', 'ft_ibot', 'linear', 'coco', 'coco_cascade', 'coco1x_ms', 'coco3x', 'ade')
FROZEN = {'knn': 'knn.py', 'roxford': 'retrieval.py', 'roxford_ibot': 'retrieval.py',
          'rparis': 'retrieval.py', 'recall': 'retrieval.py'}  # a frozen-feature tool, no training
# config set (the architecture a checkpoint records) -> {task: config under configs/benchmarks/}
CONFIGS = {
    'vit-s': dict(ft='vit-s_ft-200e_in1k.py', ft_ibot='vit-s_ft-ibot-200e_in1k.py',
                  linear='vit-s_linear-90e_in1k.py', knn='vit-s_knn_in1k.py',
                  roxford='vit-s_retrieval_roxford5k_dino.py',
                  roxford_ibot='vit-s_retrieval_roxford5k_ibot.py',
                  rparis='vit-s_retrieval_rparis6k_dino.py', coco='mask-rcnn_vit-s_fpn_ms-1x_coco.py',
                  coco_cascade='cascade-mask-rcnn_vit-s_fpn_giou-4conv1f_ms-1x_coco.py',
                  ade='upernet_vit-s_8xb2-160k_ade20k-512x512.py'),
    'vit-b': dict(ft='vit-b_ft-100e_in1k.py', linear='vit-b_linear-90e_in1k.py',
                  knn='vit-b_knn_in1k.py', coco='mask-rcnn_vit-b_simple-fpn_lsj-100e_coco.py',
                  ade='upernet_vit-b_8xb2-160k_ade20k-512x512.py'),
    'swin-t': dict(coco='mask-rcnn_swin-t_fpn_1x_coco.py',
                   coco1x_ms='mask-rcnn_swin-t_fpn_ms-crop-1x_coco.py',
                   coco3x='mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py',
                   ade='upernet_swin-t_8xb2-160k_ade20k-512x512.py'),
    'vit-tiny': dict(linear='vit-tiny_linear_cpu.py', knn='vit-tiny_knn_cpu.py',
                     recall='vit-tiny_retrieval-recall_cpu.py', coco='mask-rcnn_vit-tiny_cpu.py',
                     ade='upernet_vit-tiny_cpu.py'),
}


class Stopped(SystemExit):
    """A signal arrived: the running job got it, and no further job starts."""


class Jobs:
    """Runs one job at a time and passes this process's signals on to it."""

    def __init__(self, handle_signals=True):
        self.job, self.signalled = None, None
        if not handle_signals:  # a caller that keeps its own handlers (the tests)
            return
        # Ctrl-C: the job ignores SIGINT (started below) and gets SIGTERM, on which a training
        # writes its checkpoint as for a preemption
        for sig, passed in ((signal.SIGUSR1, signal.SIGUSR1), (signal.SIGTERM, signal.SIGTERM),
                            (signal.SIGINT, signal.SIGTERM)):
            signal.signal(sig, lambda _, __, s=sig, p=passed: self.pass_on(s, p))

    def pass_on(self, received, passed):
        self.signalled = received
        if self.job is not None and self.job.poll() is None:
            self.job.send_signal(passed)

    def stop_if_signalled(self):
        if self.signalled is not None:
            name = signal.Signals(self.signalled).name
            code = 130 if self.signalled == signal.SIGINT else PREEMPTED
            print(f'=== transfer.sh: {name}, the running job stopped; rerun the same command to '
                  f'continue (finished tasks are skipped, an interrupted training resumes): exit '
                  f'{code}', file=sys.stderr, flush=True)
            raise Stopped(code)

    def run(self, cmd):
        """Run `cmd` to its end; a failed job ends this run with its status."""
        self.stop_if_signalled()
        sys.stdout.flush()
        self.job = subprocess.Popen(cmd, cwd=ROOT, preexec_fn=lambda: signal.signal(
            signal.SIGINT, signal.SIG_IGN))
        status = self.job.wait()  # a signal handler runs, then the wait goes on (PEP 475)
        self.job = None
        self.stop_if_signalled()  # the allocation is ending: no further job, even after success
        if status:
            raise SystemExit(128 - status if status < 0 else status)


def task_state(work, pretrained_sha, checkpoint):
    """'done', 'resume' or 'new' for a task folder; a new folder is claimed for `checkpoint`.
    A folder of another checkpoint, or of unknown origin, is an error that touches nothing."""
    mark = osp.join(work, 'pretrained.sha256')
    if osp.isfile(mark):
        with open(mark) as f:
            recorded = f.read().strip()
        if recorded != pretrained_sha:
            raise SystemExit(f'transfer.sh: {work} holds a run from another pre-training '
                             f'checkpoint (sha256 {recorded}, not {pretrained_sha} of '
                             f'{checkpoint}): set NAME= or move it away')
        if osp.isfile(osp.join(work, 'metrics.json')):
            return 'done'
        return 'resume' if osp.isfile(osp.join(work, 'last_checkpoint')) else 'new'
    if osp.isdir(work) and os.listdir(work):
        raise SystemExit(f'transfer.sh: {work} is not empty and has no pretrained.sha256 (an '
                         f'older transfer.sh, or another tool, wrote it): which checkpoint its '
                         f'files come from is unknown; move it away, or write the sha256 of '
                         f'{checkpoint} into {work}/pretrained.sha256 to continue it')
    os.makedirs(work, exist_ok=True)
    with open(mark, 'w') as f:
        f.write(pretrained_sha + '\n')
    return 'new'


def run_trained(jobs, task, config, work, checkpoint, gpus, extra, state):
    """Fine-tune (or resume the interrupted fine-tune), then evaluate its last checkpoint."""
    flags = (['--resume'] if state == 'resume' else []) + \
        (['--tensorboard'] if os.environ.get('TENSORBOARD') == '1' else [])
    print(f'=== [{task}] resuming the interrupted training in {work}' if state == 'resume' else
          f'=== [{task}] train {config} -> {work}', flush=True)
    jobs.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config, gpus, '--work-dir', work,
              *flags, '--cfg-options', f'model.backbone.init_cfg.checkpoint={checkpoint}',
              *extra])
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    print(f'=== [{task}] test {last}', flush=True)
    jobs.run(['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), config, last, gpus, '--work-dir',
              work, '--out', osp.join(work, 'metrics.json'),
              *(['--cfg-options', *extra] if extra else [])])


def run_frozen(jobs, task, config, work, checkpoint, extra, python):
    """A frozen-feature evaluation (k-NN, retrieval): no training."""
    tool = FROZEN[task]
    print(f'=== [{task}] {tool} {config} -> {work}', flush=True)
    jobs.run([python, osp.join(ROOT, 'tools', tool), config, checkpoint, '--out',
              osp.join(work, 'metrics.json'), *(['--cfg-options', *extra] if extra else [])])


def config_set(checkpoint):
    """(ARCH, [--cfg-options]) from the environment or from what the checkpoint records."""
    if os.environ.get('ARCH'):
        return os.environ['ARCH'], []
    from mimco_mm.architecture import benchmark_arch
    try:
        arch, options = benchmark_arch(checkpoint)
    except Exception as e:  # noqa: BLE001  any reason the file cannot say is reported as is
        raise SystemExit(f'{type(e).__name__}: {e}\ntransfer.sh: cannot tell the architecture '
                         f'of {checkpoint}; set ARCH=')
    print(f'=== architecture recorded in the checkpoint: {arch}'
          f'{f" ({chr(32).join(options)})" if options else ""}', flush=True)
    return arch, options


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    checkpoint, gpus = argv
    if not osp.isfile(checkpoint):
        raise SystemExit(f'transfer.sh: checkpoint {checkpoint} does not exist')
    checkpoint = osp.abspath(checkpoint)
    arch, arch_options = config_set(checkpoint)
    if arch not in CONFIGS:
        raise SystemExit(f'transfer.sh: unknown ARCH={arch} ({", ".join(CONFIGS)})')
    folder = osp.dirname(checkpoint)  # work_dirs/mimco/vit-s_100e -> mimco_vit-s_100e
    name = os.environ.get('NAME') or \
        f'{osp.basename(osp.dirname(folder))}_{osp.basename(folder)}'
    out = osp.abspath(osp.join(os.environ.get('WORK_ROOT') or 'work_dirs', name))
    python = os.environ.get('PYTHON') or sys.executable
    from mimco_mm.models.teacher import file_sha256
    jobs, pretrained_sha = Jobs(), file_sha256(checkpoint).hex()
    for task in (os.environ.get('TASKS') or ALL_TASKS).split():
        extra = [*arch_options, *os.environ.get('CFG_OPTIONS', '').split(),
                 *os.environ.get(f'CFG_OPTIONS_{task}', '').split()]
        config = CONFIGS[arch].get(task)
        if config is None:
            print(f'=== [{task}] no {arch} config for this task: skipped', flush=True)
            continue
        config, work = osp.join('configs', 'benchmarks', config), osp.join(out, task)
        state = task_state(work, pretrained_sha, checkpoint)
        if state == 'done':
            print(f'=== [{task}] done before: {work}/metrics.json (delete it to run the task '
                  f'again)', flush=True)
        elif task in TRAINED:
            run_trained(jobs, task, config, work, checkpoint, gpus, extra, state)
        else:
            run_frozen(jobs, task, config, work, checkpoint, extra, python)
    print(f'metrics under {out}/*/metrics.json; tables: python tools/benchmark.py')
    return 0


if __name__ == '__main__':
    sys.exit(main())
