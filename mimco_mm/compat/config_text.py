"""`Config.pretty_text` formats the whole config with yapf on every call (about 0.5 s for a
detection config), and MMEngine calls it five times as a run starts (config dump, environment
log, message hub, ...) and once more in every checkpoint it saves. The text only changes when
the config does, so mmengine's `FormatCode` remembers its last results: the same source and
style give the same formatted text, computed once. Inputs it has not seen, and errors, are
yapf's own."""
import functools
from collections import OrderedDict

KEEP = 16  # distinct config texts remembered (a process rarely holds more than a few configs)


def memoized(format_code):
    """`format_code` (yapf's FormatCode) with its last KEEP results remembered, keyed by every
    argument; the returned (text, changed) pairs are immutable, so sharing them is safe."""
    results = OrderedDict()

    @functools.wraps(format_code)
    def FormatCode(unformatted_source, *args, **kwargs):  # noqa: N802 (yapf's name)
        key = (unformatted_source, repr(args), repr(sorted(kwargs.items())))
        if key in results:
            results.move_to_end(key)
            return results[key]
        result = format_code(unformatted_source, *args, **kwargs)
        results[key] = result
        if len(results) > KEEP:
            results.popitem(last=False)
        return result

    FormatCode._mimco_fix = True
    return FormatCode


def install():
    from mmengine.config import config
    if getattr(config.FormatCode, '_mimco_fix', False):
        return
    config.FormatCode = memoized(config.FormatCode)
