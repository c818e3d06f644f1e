"""`init_cfg=dict(type='Pretrained', ...)` loads with strict=False and only warns, so a wrong prefix
trains from scratch in silence. Our `Pretrained` takes `strict=True` (with `allow_missing` /
`allow_unexpected` name patterns) and then raises on any other mismatch, and on an architecture
that differs from the one the checkpoint records (mimco_mm/architecture.py: 12 vs 6 heads loads
without a key mismatch). Without `strict` it behaves exactly like mmengine's."""
from .checkpoint_loading import load_checkpoint_file

def _checked_pretrained_class():
    import fnmatch

    from mmengine.model.weight_init import PretrainedInit

    class CheckedPretrainedInit(PretrainedInit):
        """mmengine's PretrainedInit plus an opt-in strict mode.

        Args (besides checkpoint, prefix, map_location):
            strict: every tensor of the module must come from the checkpoint and every
                checkpoint tensor under `prefix` must be used, except names matching
                `allow_missing` / `allow_unexpected` (fnmatch patterns, e.g. 'ln2.*').
        """

        def __init__(self, checkpoint, prefix=None, map_location='cpu', strict=False,
                     allow_missing=(), allow_unexpected=()):
            super().__init__(checkpoint, prefix=prefix, map_location=map_location)
            self.strict = strict
            self.allow_missing = tuple(allow_missing)
            self.allow_unexpected = tuple(allow_unexpected)

        def __call__(self, module):
            if not self.strict:
                return super().__call__(module)
            from mimco_mm.architecture import check
            checkpoint = load_checkpoint_file(self.checkpoint, self.map_location)
            state = checkpoint.get('state_dict', checkpoint)
            if self.prefix is not None:
                state = {k[len(self.prefix):]: v for k, v in state.items()
                         if k.startswith(self.prefix)}
                if not state:
                    raise KeyError(f'{self.checkpoint} has no key starting with {self.prefix!r}')
            own = module.state_dict()
            missing = [k for k in own if k not in state and
                       not any(fnmatch.fnmatch(k, p) for p in self.allow_missing)]
            unexpected = [k for k in state if k not in own and
                          not any(fnmatch.fnmatch(k, p) for p in self.allow_unexpected)]
            if missing or unexpected:
                raise KeyError(
                    f'{self.checkpoint} (prefix {self.prefix!r}) does not fit '
                    f'{type(module).__name__}: missing {missing[:8]} ({len(missing)}), '
                    f'unexpected {unexpected[:8]} ({len(unexpected)}). A wrong prefix or '
                    f'architecture would otherwise train from scratch without a word.')
            # the weights' shapes do not pin the network down (6 vs 12 heads): compare the
            # architecture the checkpoint records with this module's
            check(module, checkpoint, self.prefix or '', self.checkpoint)
            module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
            from mmengine.logging import print_log
            print_log(f'loaded {sum(k in state for k in own)}/{len(own)} tensors of '
                      f'{type(module).__name__} from {self.checkpoint} (prefix {self.prefix!r})',
                      logger='current')
            if hasattr(module, '_params_init_info'):
                from mmengine.model.weight_init import update_init_info
                update_init_info(module, init_info=self._get_init_info())

    return CheckedPretrainedInit


def install():
    from mmengine.registry import WEIGHT_INITIALIZERS
    if getattr(WEIGHT_INITIALIZERS.get('Pretrained'), '_mimco_checked', False):
        return
    cls = _checked_pretrained_class()
    cls._mimco_checked = True
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=cls, force=True)


