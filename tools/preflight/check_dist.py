"""Preflight of a multi-GPU / multi-node job: in a minute, before a 100-epoch run, every process
checks that it sees what training will need, so the run does not hang at its first all-reduce,
crash at its first resume, or train on a node with another environment.

    tools/dist_check.sh GPUS [--config CFG] [--work-dir DIR] [--data-root DIR]   # torchrun
    NNODES=2 NODE_RANK=0 MASTER_ADDR=node1 tools/dist_check.sh 8 ...             # on each node
    srun python tools/preflight/check_dist.py --launcher slurm ...                 # under Slurm

Errors (exit 1; training would crash, hang or silently go wrong):
- two processes on one GPU, or a process without a GPU when others have one;
- a GPU whose memory another process holds before training starts (a process of a failed
  attempt that did not die, another user's job): training would run out of memory there;
- different code or library versions between processes (a node with another environment);
- a work dir that is not shared: a file one process writes is not seen by every other one
  (checkpoints are written by rank 0; after a preemption every node resumes from them);
- a data root missing, or listing different entries, on some process;
- a collective that returns a wrong result.
Warnings: more dataloader workers than CPU cores per process (with --config), CPU processes.
Reported: each process's host, device and cores; the all-reduce bandwidth at the gradient size of
ViT-S and ViT-B (what DDP reduces every step); NCCL / torchrun / Slurm variables.
A process that never joins makes the check fail after --timeout seconds instead of hanging.
Exit codes: 0 all good, 1 problems found, 2 bad arguments.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import socket
import sys
import time
import uuid

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

# gradient sizes DDP all-reduces per step (fp32): the MimCo students with their heads
GRADIENTS_MB = {'ViT-S': 4 * 22.4e6 / 2 ** 20, 'ViT-B': 4 * 86.9e6 / 2 ** 20}
# GPU memory in use before a process allocates anything that means another process holds the
# GPU: more than its own CUDA context (a few hundred MiB) could take
BUSY_GPU_GIB, BUSY_GPU_SHARE = 2.0, 0.05
ENV_PREFIXES = ('NCCL_', 'MASTER_', 'WORLD_SIZE', 'GLOO_SOCKET_IFNAME', 'SLURM_JOB_ID',
                'SLURM_NTASKS', 'SLURM_JOB_NODELIST', 'SLURM_NODELIST')


def listing_digest(root, limit=100_000):
    """What a data root looks like from here: None if it does not exist, else the number of
    entries at its top two levels (up to `limit`) and a hash of their sorted names."""
    if not osp.isdir(root):
        return None
    names = []
    try:
        for entry in sorted(os.listdir(root)):
            names.append(entry)
            path = osp.join(root, entry)
            if osp.isdir(path) and len(names) < limit:
                names.extend(f'{entry}/{sub}' for sub in sorted(os.listdir(path))[:limit])
    except OSError as e:  # unreadable: as good as missing for training
        return dict(entries=0, sha256=f'unreadable: {e}')
    return dict(entries=len(names),
                sha256=hashlib.sha256('\n'.join(names).encode()).hexdigest()[:16])


def busy(used_gib, total_gib):
    """Whether that much memory in use, before a process allocates anything, is another
    process's."""
    return used_gib > max(BUSY_GPU_GIB, BUSY_GPU_SHARE * total_gib)


def gpu_memory_in_use(mem_get_info, index, settle_s=20.0, poll_s=2.0):
    """(GiB in use, GiB in all) of GPU `index` before this process allocates anything: other
    processes' memory, and this process's CUDA context (a few hundred MiB). While that looks
    busy, measured again for up to `settle_s`: right after a failed attempt (the preflight
    before a restart) its processes' memory may still be on its way back to the driver."""
    deadline = time.monotonic() + settle_s
    while True:
        free, total = mem_get_info(index)
        used, total = round((total - free) / 2 ** 30, 2), round(total / 2 ** 30, 2)
        if not busy(used, total) or time.monotonic() >= deadline:
            return used, total
        time.sleep(poll_s)


def local_facts(data_root=None):
    """What this process runs on and with (JSON-serialisable)."""
    import torch

    from mimco_mm.engine.data_wait import visible_cores
    from mimco_mm.provenance import git_state, versions
    facts = dict(host=socket.gethostname(), pid=os.getpid(), cores=visible_cores(),
                 local_rank=int(os.environ.get('LOCAL_RANK', 0)),
                 cuda_visible=os.environ.get('CUDA_VISIBLE_DEVICES'),
                 device='cpu', gpu=None, gpu_uuid=None)
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        used, total = gpu_memory_in_use(torch.cuda.mem_get_info, index)
        facts.update(device=f'cuda:{index}', gpu=props.name,
                     gpu_uuid=str(getattr(props, 'uuid', '')) or f'{facts["host"]}:{index}',
                     gpu_used_gib=used, gpu_total_gib=total)
    commit, dirty = git_state()
    facts['versions'] = dict(versions(), commit=commit, dirty=dirty)
    facts['data'] = None if data_root is None else listing_digest(data_root)
    return facts


def find_problems(facts, data_root=None, work_dir=None, num_workers=None):
    """(errors, warnings): lists of sentences about the gathered `facts` (one dict per rank,
    rank order; `seen` = the ranks whose work-dir file this rank saw, when checked, and
    `all_reduce_ok` = whether its all-reduce returned the right sum)."""
    errors, warnings = [], []
    ranks = range(len(facts))
    wrong = [r for r in ranks if not facts[r].get('all_reduce_ok', True)]
    if wrong:
        errors.append(f'all-reduce returned a wrong sum on ranks {wrong}')
    by_gpu = {}
    for r in ranks:
        if facts[r]['gpu_uuid']:
            by_gpu.setdefault((facts[r]['host'], facts[r]['gpu_uuid']), []).append(r)
    for (host, _), shared in by_gpu.items():
        if len(shared) > 1:
            errors.append(f'ranks {shared} share one GPU ({facts[shared[0]]["device"]} on {host}): '
                          f'check CUDA_VISIBLE_DEVICES and --nproc_per_node')
    for r in ranks:
        used, total = facts[r].get('gpu_used_gib'), facts[r].get('gpu_total_gib')
        if used is not None and busy(used, total):
            errors.append(f'rank {r}: {used:g} of {total:g} GiB of {facts[r]["device"]} on '
                          f'{facts[r]["host"]} are in use before training starts: another '
                          f'process holds that GPU (one of a failed attempt that did not end, '
                          f'another job); nvidia-smi on {facts[r]["host"]} names it')
    without = [r for r in ranks if facts[r]['device'] == 'cpu']
    if by_gpu and without:
        errors.append(f'ranks {without} have no GPU while others have one')
    elif without:
        warnings.append('no process has a GPU: a CPU (gloo) run, for tests and debugging')
    reference = facts[0]['versions']
    for key in reference:
        values = {}
        for r in ranks:
            values.setdefault(str(facts[r]['versions'].get(key)), []).append(r)
        if len(values) > 1:
            errors.append(f'{key} differs between processes: ' +
                          '; '.join(f'{v} on ranks {rs}' for v, rs in values.items()))
    if work_dir is not None:
        for r in ranks:
            missing = sorted(set(ranks) - set(facts[r].get('seen', [])))
            if facts[r].get('work_dir_error'):
                errors.append(f'rank {r} ({facts[r]["host"]}): {facts[r]["work_dir_error"]}')
            elif missing:
                errors.append(f'work dir {work_dir} is not shared: rank {r} ({facts[r]["host"]}) '
                              f'does not see the files of ranks {missing}; checkpoints written '
                              f'by rank 0 must be readable by every node to resume')
    if data_root is not None:
        absent = [r for r in ranks if facts[r]['data'] is None]
        if absent:
            errors.append(f'data root {data_root} does not exist on ranks {absent}')
        listings = {}
        for r in ranks:
            if facts[r]['data'] is not None:
                listings.setdefault(facts[r]['data']['sha256'], []).append(r)
        if len(listings) > 1:
            errors.append(f'data root {data_root} lists different entries on different '
                          f'processes: ' + '; '.join(
                              f'{facts[rs[0]]["data"]["entries"]} entries on ranks {rs}'
                              for rs in listings.values()))
    if num_workers is not None:
        for host in sorted({f['host'] for f in facts}):
            local = [r for r in ranks if facts[r]['host'] == host]
            cores = facts[local[0]]['cores']
            # a process's affinity is usually the whole allocation, shared by the node's ranks
            each = cores // len(local) if all(facts[r]['cores'] == cores for r in local) else cores
            if num_workers > max(each - 1, 1):
                warnings.append(f'{host}: {num_workers} dataloader workers per process but about '
                                f'{each} cores each ({cores} visible, {len(local)} processes): '
                                f'workers will compete for cores')
    return errors, warnings


def check_work_dir(work_dir, run_id, rank, world_size, barrier, wait_s=10.0):
    """Each process writes a file into `work_dir`, then lists which processes' files it sees
    (retrying for `wait_s`: network file systems publish new files with a delay).
    Returns (ranks seen, None) or ([], the error) when this process cannot write or list there;
    every process reaches the barrier either way, so one failing process hangs nobody."""
    folder = osp.join(work_dir, '.dist_check', run_id)
    error = None
    try:
        os.makedirs(folder, exist_ok=True)
        with open(osp.join(folder, f'rank{rank}'), 'w') as f:
            f.write(socket.gethostname())
    except OSError as e:
        error = f'cannot write into {work_dir}: {e}'
    barrier()
    deadline = time.monotonic() + wait_s
    while error is None:
        try:
            seen = sorted(int(n[4:]) for n in os.listdir(folder) if n.startswith('rank'))
        except OSError as e:
            error = f'cannot list {folder}: {e}'
            break
        if len(seen) == world_size or time.monotonic() > deadline:
            return seen, None
        time.sleep(0.5)
    return [], error


def bandwidth(all_reduce, device, size_mb, world_size, iters=5):
    """Median seconds of an all-reduce of `size_mb` MiB of fp32 and the bus bandwidth (GB/s,
    nccl-tests' convention: bytes x 2 (n - 1) / n / time)."""
    import torch
    tensor = torch.ones(int(size_mb * 2 ** 20 / 4), device=device)
    times = []
    for i in range(iters + 1):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        all_reduce(tensor)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        if i:  # the first one sets up the channels
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    bus = tensor.numel() * 4 * 2 * (world_size - 1) / world_size / seconds / 1e9
    return seconds, bus


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', help='take the work dir, data root and workers from this '
                                         'training config')
    parser.add_argument('--work-dir', help='the folder checkpoints will go to (checked for '
                                           'being shared); default: the config\'s')
    parser.add_argument('--data-root', help='the training data (checked on every process); '
                                            'default: the config\'s train data root')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--timeout', type=float, default=300,
                        help='seconds to wait for every process to join and for each collective')
    parser.add_argument('--no-bandwidth', action='store_true',
                        help='skip the all-reduce timing')
    parser.add_argument('--json', help='also write every process\'s facts and the verdict here')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def from_config(args):
    """(work_dir, data_root, num_workers) from the arguments, completed from --config."""
    work_dir, data_root, workers = args.work_dir, args.data_root, None
    if args.config:
        from tools._common import default_work_dir, load_config
        cfg = load_config(args.config)
        loader = cfg.get('train_dataloader') or {}
        dataset = loader.get('dataset') or {}
        while dataset.get('dataset') is not None:  # RepeatDataset and other wrappers
            dataset = dataset['dataset']
        work_dir = work_dir or cfg.get('work_dir') or default_work_dir(args.config)
        data_root = data_root or dataset.get('data_root')
        workers = loader.get('num_workers')
    return work_dir, data_root, workers


def report(facts, errors, warnings, work_dir, data_root, timings):
    """The text rank 0 prints."""
    lines = [f'{len(facts)} processes on {len({f["host"] for f in facts})} host(s)',
             '| rank | host | local rank | device | GPU | GiB in use at start | '
             'CUDA_VISIBLE_DEVICES | cores |',
             '|---|---|---|---|---|---|---|---|']
    for r, f in enumerate(facts):
        used = f.get('gpu_used_gib')
        memory = '-' if used is None else f'{used:g} of {f["gpu_total_gib"]:g}'
        lines.append(f'| {r} | {f["host"]} | {f["local_rank"]} | {f["device"]} | {f["gpu"] or "-"} '
                     f'| {memory} | {f["cuda_visible"] or "-"} | {f["cores"]} |')
    v = facts[0]['versions']
    lines.append('versions on rank 0: ' + ', '.join(f'{k} {v[k]}' for k in v if v[k] is not None))
    if work_dir:
        lines.append(f'work dir: {work_dir}')
    if data_root:
        d = facts[0]['data']
        lines.append(f'data root: {data_root} ' + (f'({d["entries"]} entries at the top two levels)'
                                                    if d else '(missing on rank 0)'))
    for name, (seconds, bus) in timings.items():
        lines.append(f'all-reduce of {name} gradients ({GRADIENTS_MB[name]:.0f} MiB fp32): '
                     f'{1e3 * seconds:.1f} ms, bus bandwidth {bus:.1f} GB/s')
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}
    lines.append('environment (rank 0): ' + (', '.join(f'{k}={v}' for k, v in env.items()) or
                                             'no NCCL / torchrun / Slurm variables'))
    lines += [f'ERROR: {e}' for e in errors] + [f'warning: {w}' for w in warnings]
    lines.append(f'verdict: {"FAILED" if errors else "OK"} ({len(errors)} error(s), '
                 f'{len(warnings)} warning(s))')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    try:
        work_dir, data_root, num_workers = from_config(args)
    except (FileNotFoundError, ValueError) as error:
        print(f'check_dist: {error}', file=sys.stderr)
        return 2
    import torch
    import torch.distributed as torch_dist

    import mimco_mm  # noqa: F401  (the CPU launcher fix among the compat fixes)
    if args.launcher != 'none':
        from mmengine.dist import init_dist
        init_dist(args.launcher, backend='nccl' if torch.cuda.is_available() else 'gloo',
                  timeout=args.timeout)  # seconds; mmengine makes the timedelta
    distributed = torch_dist.is_available() and torch_dist.is_initialized()
    rank = torch_dist.get_rank() if distributed else 0
    world_size = torch_dist.get_world_size() if distributed else 1
    device = torch.device('cuda', torch.cuda.current_device()) if torch.cuda.is_available() \
        else torch.device('cpu')

    def barrier():
        if distributed:
            torch_dist.barrier()

    def gather(obj):
        if not distributed:
            return [obj]
        out = [None] * world_size
        torch_dist.all_gather_object(out, obj)
        return out

    facts = local_facts(data_root)
    # a collective's result, checked: sum of rank + 1 over ranks
    value = torch.full((4, ), float(rank + 1), device=device)
    if distributed:
        torch_dist.all_reduce(value)
    facts['all_reduce_ok'] = bool(torch.all(value == world_size * (world_size + 1) / 2))
    if work_dir:
        run_id = gather(uuid.uuid4().hex[:12])[0]  # rank 0's
        facts['seen'], facts['work_dir_error'] = check_work_dir(work_dir, run_id, rank,
                                                                world_size, barrier)
    facts = gather(facts)
    errors, warnings = find_problems(facts, data_root, work_dir, num_workers)
    timings = {}
    if distributed and world_size > 1 and not args.no_bandwidth:
        for name in (GRADIENTS_MB if device.type == 'cuda' else ['ViT-S']):  # gloo is slow
            timings[name] = bandwidth(torch_dist.all_reduce, device, GRADIENTS_MB[name],
                                      world_size)
    barrier()
    if rank == 0:
        if work_dir:
            shutil.rmtree(osp.join(work_dir, '.dist_check'), ignore_errors=True)
        print(report(facts, errors, warnings, work_dir, data_root, timings), flush=True)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(facts=facts, errors=errors, warnings=warnings,
                               allreduce={k: dict(seconds=s, bus_gb_s=b)
                                          for k, (s, b) in timings.items()}), f, indent=1)
    if distributed:
        from tools._common import close_process_group
        close_process_group()
    return 1 if errors else 0  # every rank found the same problems in the same facts


if __name__ == '__main__':
    from tools._common import run_process
    run_process(main)
