"""Evaluate a checkpoint with any config of mimco_mm, mmpretrain, mmdet or mmseg.

    python tools/test.py CONFIG CHECKPOINT [--work-dir D] [--out metrics.json] [--cfg-options ...]

The metrics are printed and written as JSON (default: <work_dir>/test_metrics.json), which
tools/benchmark.py collects.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mimco_mm  # noqa: E402,F401
from tools._common import (adapt_to_cpu_processes, add_runner_args,  # noqa: E402
                           close_process_group, default_work_dir, evaluation_provenance,
                           load_config, parse_runner_args, run_process, write_metrics)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--out', help='metrics JSON (default: <work_dir>/test_metrics.json)')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def _jsonable(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value if isinstance(value, (str, int, list, dict)) else str(value)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    adapt_to_cpu_processes(cfg, args.launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    start = time.monotonic()
    metrics = runner.test()
    out = args.out or osp.join(cfg.work_dir, 'test_metrics.json')
    if runner.rank == 0:
        provenance = evaluation_provenance(cfg, args.checkpoint,
                                           [runner.test_dataloader.dataset], runner,
                                           round(time.monotonic() - start, 1))
        write_metrics(out, dict(config=args.config, checkpoint=args.checkpoint,
                                metrics={k: _jsonable(v) for k, v in metrics.items()},
                                provenance=provenance))
    close_process_group()  # the others wait for process 0's metrics file
    return metrics


if __name__ == '__main__':
    run_process(main)
