"""A run killed at any moment (kill -9, a node failure, preemption) must not leave a truncated
checkpoint where `--resume` would pick it up.

mmengine 0.10.7 writes checkpoints with `LocalBackend.put`, which opens the final path and writes
into it, and `CheckpointHook` rewrites `last_checkpoint` in place; a kill in between leaves a
truncated `.pth` or an empty pointer (an empty pointer makes `--resume` fail, a missing one makes
it start from scratch). Two fixes:

- `LocalBackend.put` / `put_text` write to a hidden temporary file in the same folder, fsync it,
  then rename it over the target (atomic on POSIX): the target is the old file or the new one.
  What a killed writer left behind is deleted by the next write of the same file.
- `find_latest_checkpoint(path)` returns what `last_checkpoint` names when that file exists (as
  upstream); when the pointer is missing, empty or names a missing file, it falls back to the
  newest complete `*.pth` in the folder (every `*.pth` is complete, given the first fix), never
  a `best_*.pth` (no optimizer state). A checkpoint damaged after it was written (flipped bits,
  a bad copy: checkpoint_integrity) is passed over, with a warning naming it.

A full disk (or quota) is the other way a long run ends at a checkpoint: the write fails with
ENOSPC / EDQUOT, which upstream reports as a bare `[Errno 28]` from deep inside torch.save. Here
the partial file is removed and the error names the file, its size, the space left and which
checkpoint to resume from; and after each checkpoint written, a warning says when the space left
would not hold two more of the same size, while there is still time to act.
"""
import errno
import glob
import os
import os.path as osp
import shutil

TMP_PREFIX, TMP_SUFFIX = '.tmp-', '.part'  # hidden, not *.pth: never taken for a checkpoint


def _remove_stale_parts(folder, basename):
    """Delete what killed writers of `basename` left behind (their process no longer exists)."""
    for path in glob.glob(osp.join(folder, f'{TMP_PREFIX}*-{basename}{TMP_SUFFIX}')):
        pid = osp.basename(path)[len(TMP_PREFIX):].split('-', 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            os.remove(path)
        except (ValueError, PermissionError):
            pass


def write_bytes_atomic(obj, filepath):
    """Write `obj` (bytes) to `filepath` so that a reader sees the old file or the whole new one.

    A symlinked target is resolved first, so the link keeps pointing where it did (as a plain
    `open(path, 'wb')` would write through it)."""
    target = osp.realpath(str(filepath))
    folder = osp.dirname(target)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'{TMP_PREFIX}{os.getpid()}-{osp.basename(target)}{TMP_SUFFIX}')
    try:
        with open(tmp, 'wb') as f:
            f.write(obj)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as error:
        if error.errno not in DISK_FULL:
            raise
        raise OSError(error.errno, disk_full_message(target, len(obj), error)) from error
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    _remove_stale_parts(folder, osp.basename(target))
    if target.endswith('.pth'):
        warn_if_next_checkpoint_may_not_fit(target, len(obj))


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _gib(n):
    return f'{n / 2 ** 30:.2f} GiB'


def free_bytes(folder):
    """Bytes free for this user in `folder` (statvfs: quotas are not included), None if unknown."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full_message(target, size, error):
    """What a failed write of `target` (`size` bytes) tells the user."""
    folder = osp.dirname(target)
    free = free_bytes(folder)
    newest = newest_complete_checkpoint(folder)
    return (f'{os.strerror(error.errno)} while writing {target} ({_gib(size)}; '
            f'{"unknown" if free is None else _gib(free)} free in {folder}'
            f'{", or a quota is exhausted" if error.errno == errno.EDQUOT else ""}). Nothing was '
            f'replaced: the partial file is removed and every checkpoint already in {folder} is '
            f'intact (newest: {newest or "none"}). Free space there, or move the work dir, then '
            f'continue with tools/train.py CONFIG --resume')


def warn_if_next_checkpoint_may_not_fit(target, size):
    """After writing checkpoint `target` of `size` bytes: warn when the space left could not hold
    two more of that size (each is written before older ones are pruned; two, because logs and
    other files grow too)."""
    free = free_bytes(osp.dirname(target))
    if free is None or free >= 2 * size:
        return
    from mmengine.logging import print_log
    print_log(f'low disk space: after writing {target} ({_gib(size)}), {_gib(free)} is left in '
              f'{osp.dirname(target)}, room for fewer than two more checkpoints of this size. '
              f'Training stops with an error at the next checkpoint that does not fit (no '
              f'checkpoint is lost then); free space or lower max_keep_ckpts now',
              logger='current', level=30)


def put(self, obj, filepath):
    """`LocalBackend.put`, atomic: same signature, same resulting file."""
    write_bytes_atomic(obj, filepath)


def put_text(self, obj, filepath, encoding='utf-8'):
    """`LocalBackend.put_text`, atomic."""
    write_bytes_atomic(obj.encode(encoding), filepath)


def newest_complete_checkpoint(path):
    """The most recently written `*.pth` directly under `path`, or None."""
    candidates = [p for p in glob.glob(osp.join(path, '*.pth')) if osp.isfile(p)]
    return max(candidates, key=osp.getmtime) if candidates else None


def resumable_checkpoints(path):
    """The `*.pth` files directly under `path` a run can continue from, newest first: all but
    the best-metric copies (`best_*.pth`, written without optimizer state, often after the
    epoch's own checkpoint)."""
    candidates = [p for p in glob.glob(osp.join(path, '*.pth'))
                  if osp.isfile(p) and not osp.basename(p).startswith('best_')]
    return sorted(candidates, key=osp.getmtime, reverse=True)


def find_latest_checkpoint(path):
    """mmengine's `find_latest_checkpoint`, robust to a kill while `last_checkpoint` was written
    and to a damaged checkpoint (checkpoint_integrity): what the pointer names when that file is
    intact, else the newest intact resumable checkpoint, with a warning naming what was passed
    over."""
    from mmengine.logging import print_log
    from .checkpoint_integrity import CorruptCheckpointError, verify_checkpoint_file
    save_file = osp.join(path, 'last_checkpoint')
    named = None
    if osp.exists(save_file):
        with open(save_file) as f:
            named = f.read().strip()
    pointed = bool(named) and osp.isfile(named)
    candidates = ([named] if pointed else []) + \
        [p for p in resumable_checkpoints(path) if not (pointed and osp.samefile(p, named))]
    damaged = []
    for candidate in candidates:
        try:
            verify_checkpoint_file(candidate)
        except CorruptCheckpointError as err:
            damaged.append(str(err))
            continue
        if candidate != named or damaged:
            why = f'{save_file} is missing, empty or names a missing file ({named!r}); ' \
                if not damaged else 'damaged checkpoints were passed over:\n  ' + \
                '\n  '.join(damaged) + '\n'
            print_log(f'{why}resuming from the newest intact checkpoint in {path}: '
                      f'{candidate}', logger='current', level=30)
        return candidate
    if damaged:
        raise CorruptCheckpointError(f'no intact checkpoint to resume from in {path}:\n  ' +
                                     '\n  '.join(damaged))
    if named:  # the pointer names a file that is gone and nothing else is there
        return named
    print_log('Did not find last_checkpoint to be resumed.')
    return None


def install():
    import mmengine.runner
    import mmengine.runner.checkpoint
    import mmengine.runner.runner
    from mmengine.fileio.backends.local_backend import LocalBackend
    LocalBackend.put = put
    LocalBackend.put_text = put_text
    for module in (mmengine.runner, mmengine.runner.checkpoint, mmengine.runner.runner):
        module.find_latest_checkpoint = find_latest_checkpoint
