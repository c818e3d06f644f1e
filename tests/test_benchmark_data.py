"""tools/speed/benchmark_data.py at small scale: it times the transforms inside MoCo v3's views
and swaps the crop's resize there too (the crops of a two-view pipeline sit inside MultiView)."""
from conftest import shell
from tools.speed.benchmark_data import leaf_costs, main


def test_views_are_timed_transform_by_transform_and_their_crops_swapped(tmp_path):
    rows = main(['configs/mocov3/vit-tiny_cpu.py', '--images', '4', '--samples', '8',
                 '--image-size', '64', '48', '--backends', 'cv2',
                 '--crop-backends', 'pillow', 'torch', '--json', str(tmp_path / 'data.json')])
    assert [r['backend'] for r in rows] == ['cv2, crop resize pillow', 'cv2, crop resize torch']
    pillow, torch = (r['ms_per_transform'] for r in rows)
    # the one view of vit-tiny_cpu.py runs twice (num_views=2); its transforms each have a time
    assert {'MultiView/view1 RandomResizedCrop', 'MultiView/view1 RandomApply',
            'MultiView/view1 LUTRandomGrayscale'} <= set(pillow)
    assert 'MultiView/view1 TorchRandomResizedCrop' in torch
    assert not any('view2' in k for k in pillow)
    for costs in (pillow, torch):
        views = sum(v for k, v in costs.items() if k.startswith('MultiView/'))
        assert 0 < views <= costs['MultiView'] * 1.05  # the parts lie within the whole
        leaves = leaf_costs(costs)
        assert 'MultiView' not in leaves and 'LoadImageFromFile' in leaves
    assert (tmp_path / 'data.json').stat().st_size > 0


def test_the_whole_dataloader_is_timed_with_and_without_worker_processes(tmp_path):
    """--loader-workers 0 (gpu_check passes nproc - 2: 0 on a 2-core box) loads in the main
    process; it divided by zero before."""
    import json
    done = shell('tools/speed/benchmark_data.py', 'configs/mimco/vit-tiny_cpu.py', '--images',
                 '4', '--samples', '4', '--image-size', '64', '48', '--backends', 'cv2',
                 '--loader-workers', '0', '1', '--batches', '2', '--batch', '2',
                 '--json', tmp_path / 'data.json')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    loaders = json.load(open(tmp_path / 'data.json'))['loaders']
    assert [r['workers'] for r in loaders] == [0, 1]
    assert all(r['images_per_s'] > 0 and r['batch'] == 2 for r in loaders)
    out = done.stdout
    assert '0 workers, batch 2' in out and 'in the main process' in out
