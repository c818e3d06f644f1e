"""One unreadable image (truncated, zero bytes, not an image) kills a long run with mmcv's bare
`AssertionError: failed to load image: PATH` after hours of work. mmcv's `LoadImageFromFile` now:

- raises `BadImageError` naming the file, the reason and the preflight command
  (`tools/data/check_dataset.py`) that finds every such file before a run starts. The error is
  also an instance of what mmcv raised (`FileNotFoundError` for a missing file, `AssertionError`
  for an undecodable one, ...), so code that catches those still catches it;
- takes `skip_bad_images=True` (opt-in): the file is logged by name and the transform returns
  None, so MMEngine's dataset draws another sample in its place (training datasets only).

`ignore_empty=True` keeps its upstream meaning (a failed read returns None, silently).
Successful loads are untouched.
"""
PREFLIGHT = 'python tools/data/check_dataset.py CONFIG (or IMAGE_FOLDER) --write-clean-list OUT'


class BadImageError(RuntimeError):
    """An image file that cannot be read or decoded."""


_AS_UPSTREAM = {}


def bad_image_error(message, upstream):
    """A BadImageError that is also an instance of `upstream`'s class (a subclass made once per
    class), or a plain BadImageError where that class cannot be subclassed or built from a
    message alone."""
    cls = type(upstream)
    if cls not in _AS_UPSTREAM:
        try:
            _AS_UPSTREAM[cls] = type(f'BadImageError[{cls.__name__}]', (BadImageError, cls),
                                     {'__module__': __name__})
        except TypeError:
            _AS_UPSTREAM[cls] = BadImageError
    try:
        return _AS_UPSTREAM[cls](message)
    except TypeError:
        return BadImageError(message)


def install():
    from mmcv.transforms.loading import LoadImageFromFile
    if getattr(LoadImageFromFile, '_mimco_fix', False):
        return
    original_init = LoadImageFromFile.__init__
    original_transform = LoadImageFromFile.transform

    def __init__(self, *args, skip_bad_images=False, **kwargs):
        original_init(self, *args, **kwargs)
        self.skip_bad_images = skip_bad_images

    def transform(self, results):
        try:
            return original_transform(self, results)
        except Exception as err:  # the read, the decode, or mmcv's `img is not None` assertion
            filename = results.get('img_path')
            reason = f'{type(err).__name__}: {err}'
            if getattr(self, 'skip_bad_images', False):
                from mmengine.logging import print_log
                print_log(f'skipping unreadable image {filename} ({reason}); another sample '
                          f'takes its place (skip_bad_images=True)', logger='current', level=30)
                return None
            raise bad_image_error(
                f'cannot load image {filename} ({reason}). Find every such file before a run '
                f'with `{PREFLIGHT}`, or let training skip them with '
                f"dict(type='LoadImageFromFile', skip_bad_images=True).", err) from err

    LoadImageFromFile.__init__ = __init__
    LoadImageFromFile.transform = transform
    LoadImageFromFile._mimco_fix = True
