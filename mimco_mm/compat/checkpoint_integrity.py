"""`torch.load` does not check the CRC-32 that `torch.save` writes for every member of its zip
archive: a checkpoint with flipped bits (a failing disk, a bad copy between file systems, an
interrupted rsync that left the old size) loads without a word, and a run resumes, or a
downstream task starts, from weights nobody wrote. A truncated file fails, but only with torch's
"failed finding central directory", which does not say what to do.

`verify_checkpoint_file` reads the archive once and compares every member with its CRC
(Python's zipfile, about as fast as the disk), and raises `CorruptCheckpointError` naming the
file and the damaged member. Every load through `load_checkpoint_file` runs it (resume,
load_from, init_cfg Pretrained, teachers, the tools); `find_latest_checkpoint` (--resume without
a path, the NaN guard's rollback) passes over a damaged checkpoint to the newest intact one and
says so. A file in torch's legacy (pre-1.6, non-zip) format has no checksums and is left to
`torch.load`. Nothing is cached: bits that rot on disk change neither size nor mtime, and the
check costs one read of the file.
"""
import os
import zipfile

ZIP_MAGIC = b'PK\x03\x04'


class CorruptCheckpointError(RuntimeError):
    """A checkpoint whose bytes are not the ones torch.save wrote."""


def verify_checkpoint_file(filename: str) -> None:
    """Raise CorruptCheckpointError if `filename`, a torch zip checkpoint, is truncated or any
    member fails its CRC-32; return None for an intact file or a legacy-format one."""
    size = os.path.getsize(filename)
    with open(filename, 'rb') as f:
        head = f.read(4)
    if head != ZIP_MAGIC:
        if not head:
            raise CorruptCheckpointError(f'checkpoint {filename} is empty (0 bytes)')
        return  # torch's legacy pickle format: no checksums to compare
    try:
        with zipfile.ZipFile(filename) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as err:
        raise CorruptCheckpointError(
            f'checkpoint {filename} is truncated or damaged ({err}; {size} bytes): it '
            f'was not completely written or copied. Use an earlier checkpoint, or copy it '
            f'again from where it was written') from None
    if damaged is not None:
        raise CorruptCheckpointError(
            f'checkpoint {filename} is damaged: its member {damaged!r} does not match the '
            f'CRC-32 torch.save recorded (flipped bits on disk or in a copy; torch.load would '
            f'have loaded the wrong values silently). Use an earlier checkpoint, or copy it '
            f'again from where it was written')
