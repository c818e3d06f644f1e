"""mmcv 2.1.0's `cache_randomness` records a transform class's random methods in a list stored on
the class. A subclass that decorates a method of its own finds its parent's list by inheritance
and appends to it: mmdet's `RandAugment(RandomChoice)` does, so once mmdet's transforms are
imported (mmpretrain's models import them where mmdet is installed) mmcv's `RandomChoice` lists
`random_pipeline_index` twice. A RandomChoice whose random parameters are shared
(`TransformBroadcaster(share_random_params=True)`) then counts each draw twice and fails with
"should be invoked at most once ... invoked 2 times" (mmcv's own test_random_choice).

Fix: each class records its methods in a list of its own (a copy of what it inherits), each name
once. Lists that an earlier import already filled twice are repaired by dropping repeated names.
"""


def __set_name__(self, owner, name):
    """`cache_randomness.__set_name__`, recording `name` on `owner` itself."""
    if '_methods_with_randomness' not in owner.__dict__:
        owner._methods_with_randomness = list(getattr(owner, '_methods_with_randomness', []))
    if name not in owner._methods_with_randomness:
        owner._methods_with_randomness.append(name)


def repair_recorded_methods():
    """Drop repeated names from every transform class's own list (classes defined before the
    fix was installed)."""
    from mmcv.transforms.base import BaseTransform
    classes, seen = [BaseTransform], set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        classes.extend(cls.__subclasses__())
        own = cls.__dict__.get('_methods_with_randomness')
        if isinstance(own, list) and len(set(own)) != len(own):
            own[:] = list(dict.fromkeys(own))


def install():
    from mmcv.transforms import utils
    if not getattr(utils.cache_randomness, '_mimco_fix', False):
        utils.cache_randomness._mmcv_set_name = utils.cache_randomness.__set_name__
        utils.cache_randomness.__set_name__ = __set_name__
        utils.cache_randomness._mimco_fix = True
    repair_recorded_methods()
