"""tools/knn.py, tools/retrieval.py and the linear probe on a real stage-2 checkpoint."""
import json
import os
import os.path as osp
import pickle
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import free_port, make_image_folder, run_train, shell
from tools import knn as knn_tool
from tools import retrieval as retrieval_tool
from tools import test as test_tool
from tools._common import ROOT
from tools._frozen import build_frozen_model, build_loader


@pytest.fixture(scope='module')
def labelled(tmp_path_factory):
    return make_image_folder(str(tmp_path_factory.mktemp('labelled')), classes=3, per_class=6,
                             size=36, splits=('train', 'val'))


def _opts(data):
    return [f'knn_bank_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}']


def test_knn_tool_matches_a_brute_force_vote(pretrain_chain, labelled, tmp_path):
    config = osp.join(ROOT, 'configs/benchmarks/vit-tiny_knn_cpu.py')
    out = tmp_path / 'knn.json'
    metrics = knn_tool.main([config, pretrain_chain['stage2'], '--out', str(out),
                             '--cfg-options', *_opts(labelled), 'knn.ks=[1,5]'])
    assert json.loads(out.read_text())['metrics'] == metrics
    # brute force on the same features: loops, no topk / scatter
    from mimco_mm.evaluation import extract_features
    cfg, model, device = build_frozen_model(config, pretrain_chain['stage2'], dict(
        (o.split('=')[0], o.split('=')[1]) for o in _opts(labelled)))
    bank, bank_y = extract_features(model, build_loader(cfg, 'knn_bank_dataloader'), device)
    query, query_y = extract_features(model, build_loader(cfg, 'test_dataloader'), device)
    bank = torch.nn.functional.normalize(bank, dim=1)
    query = torch.nn.functional.normalize(query, dim=1)
    for k in (1, 5):
        hits = 0
        for q, y in zip(query, query_y):
            sims = [(float(q @ b), int(label)) for b, label in zip(bank, bank_y)]
            sims.sort(key=lambda t: -t[0])
            votes = {}
            for sim, label in sims[:k]:
                votes[label] = votes.get(label, 0.0) + np.exp(sim / 0.07)
            hits += max(votes, key=votes.get) == int(y)
        assert metrics[f'knn/top1_k{k}'] == pytest.approx(100.0 * hits / len(query_y))


def test_recall_tool_on_a_labelled_folder(pretrain_chain, labelled, tmp_path):
    metrics = retrieval_tool.main([
        osp.join(ROOT, 'configs/benchmarks/vit-tiny_retrieval-recall_cpu.py'),
        pretrain_chain['stage2'], '--out', str(tmp_path / 'r.json'),
        '--cfg-options', f'test_dataloader.dataset.data_root={labelled}'])
    values = [metrics[f'retrieval/recall@{k}'] for k in (1, 2, 4, 8)]
    assert all(0 <= v <= 100 for v in values) and values == sorted(values)


def _tiny_revisited_set(root):
    """5 random 40 x 48 database images; 2 queries (db_0, db_1), each with a box of its top-left
    quarter."""
    os.makedirs(root / 'jpg')
    rng = np.random.default_rng(0)
    names = [f'db_{i}' for i in range(5)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(
            root / 'jpg' / f'{name}.jpg', quality=100)
    gnd = [dict(bbx=[0, 0, 24, 20], easy=np.array([0]), hard=np.array([], dtype=np.int64),
                junk=np.array([], dtype=np.int64)),
           dict(bbx=[0, 0, 24, 20], easy=np.array([], dtype=np.int64), hard=np.array([1]),
                junk=np.array([4]))]
    with open(root / 'gnd_tiny.pkl', 'wb') as f:
        pickle.dump(dict(imlist=names, qimlist=['db_0', 'db_1'], gnd=gnd), f)
    return root


TINY_RETRIEVAL = ['model.backbone.arch.embed_dims=64', 'model.backbone.arch.num_layers=4',
                  'model.backbone.arch.num_heads=4', 'model.backbone.arch.feedforward_channels=256',
                  'model.backbone.img_size=32', 'model.backbone.patch_size=4']


@pytest.mark.parametrize('config', ['vit-s_retrieval_roxford5k_dino.py',
                                    'vit-s_retrieval_roxford5k_ibot.py',
                                    'vit-s_retrieval_rparis6k_dino.py'])
def test_revisited_tool_finds_identical_images_first(pretrain_chain, tmp_path, config):
    """Whole queries (DINO's and iBOT's protocols) that are database images: each must rank its
    twin first, so both Medium and Hard mAP are 100 (the hard-less query is left out of Hard)."""
    root = _tiny_revisited_set(tmp_path / 'tiny')
    metrics = retrieval_tool.main([
        osp.join(ROOT, 'configs/benchmarks', config), pretrain_chain['stage2'],
        '--out', str(tmp_path / 'rox.json'), '--cfg-options',
        f'retrieval.data_root={root}', 'retrieval.gnd_file=gnd_tiny.pkl',
        'retrieval.image_size=32', *TINY_RETRIEVAL])
    assert metrics == {'retrieval/mAP_medium': 100.0, 'retrieval/mAP_hard': 100.0}


def test_revisited_images_are_shrunk_into_the_box_and_queries_cropped_only_when_asked(
        pretrain_chain, tmp_path, monkeypatch):
    """DINO's handling: each image shrunk into the image_size box with antialiasing (PIL's
    thumbnail), never enlarged; the query box is used only with query_crop=True."""
    big = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), np.uint8))
    shrunk = retrieval_tool.shrink_into_box(big, 224)
    assert shrunk.size == (224, 168) and big.size == (400, 300)  # the caller's image untouched
    expected = big.copy()
    expected.thumbnail((224, 224), Image.LANCZOS)
    assert np.array_equal(np.asarray(shrunk), np.asarray(expected))
    small = big.resize((40, 30))
    assert retrieval_tool.shrink_into_box(small, 224).size == (40, 30)  # never enlarged
    seen = []
    original = retrieval_tool.multiscale_feature
    monkeypatch.setattr(retrieval_tool, 'multiscale_feature',
                        lambda model, image, *a: seen.append(image.size) or original(
                            model, image, *a))
    root = _tiny_revisited_set(tmp_path / 'tiny')
    for crop in (False, True):
        seen.clear()
        retrieval_tool.main([
            osp.join(ROOT, 'configs/benchmarks/vit-s_retrieval_roxford5k_dino.py'),
            pretrain_chain['stage2'], '--out', str(tmp_path / f'{crop}.json'), '--cfg-options',
            f'retrieval.data_root={root}', 'retrieval.gnd_file=gnd_tiny.pkl',
            'retrieval.image_size=32', f'retrieval.query_crop={crop}', *TINY_RETRIEVAL])
        assert seen[:5] == [(32, 27)] * 5  # 48 x 40 shrunk into 32 x 32
        assert seen[5:] == ([(24, 20)] * 2 if crop else [(32, 27)] * 2)


def test_multiscale_features_are_dinos_mean_of_rescaled_inputs(pretrain_chain):
    """The feature of one image: the mean over scales of the features of the image bilinearly
    rescaled by each scale (scale 1: the image itself), L2-normalised (DINO's multi_scale)."""
    import ast

    import torch.nn.functional as F

    from tools._frozen import build_frozen_model
    _, model, device = build_frozen_model(
        osp.join(ROOT, 'configs/benchmarks/vit-s_retrieval_rparis6k_dino.py'),
        pretrain_chain['stage2'], {key: ast.literal_eval(value) for key, value in (
            option.split('=', 1) for option in TINY_RETRIEVAL)})
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 40, 3), np.uint8))
    scales = (1, 2 ** -0.5, 0.5)
    got = retrieval_tool.multiscale_feature(model, image, scales, device)
    pre = model.data_preprocessor
    x = (torch.from_numpy(np.asarray(image, np.float32)).permute(2, 0, 1) - pre.mean) / pre.std
    feats = []
    with torch.no_grad():
        for s in scales:
            inp = x[None] if s == 1 else F.interpolate(x[None], scale_factor=s, mode='bilinear',
                                                       align_corners=False)
            out = model.extract_feat(inp)
            feats.append((out[-1] if isinstance(out, (tuple, list)) else out)[0])
    assert torch.allclose(got, F.normalize(sum(feats) / 3, dim=0), atol=1e-6)


def test_linear_probe_trains_the_head_only_and_reports_its_accuracy(pretrain_chain, labelled,
                                                                     tmp_path):
    config = 'configs/benchmarks/vit-tiny_linear_cpu.py'
    options = [f'train_dataloader.dataset.data_root={labelled}',
               f'val_dataloader.dataset.data_root={labelled}',
               f'test_dataloader.dataset.data_root={labelled}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'model.head.num_classes=3', 'data_preprocessor.num_classes=3',
               'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2']
    runner = run_train(config, tmp_path / 'linear', *options)
    assert (tmp_path / 'linear' / 'best_accuracy_top1_epoch_2.pth').is_file()  # save_best
    stage2 = torch.load(pretrain_chain['stage2'], weights_only=False)['state_dict']
    model = runner.model
    assert all(not p.requires_grad for p in model.backbone.parameters())
    for key, value in model.backbone.state_dict().items():  # untouched by two epochs
        assert torch.equal(value, stage2['backbone.' + key]), key
    # the reported accuracy is the fraction of val images whose argmax is the label
    metrics = test_tool.main([osp.join(ROOT, config), str(tmp_path / 'linear' / 'epoch_2.pth'),
                              '--work-dir', str(tmp_path / 'linear'), '--cfg-options', *options])
    model.eval()
    right = total = 0
    for batch in runner.test_dataloader:
        for sample in model.test_step(batch):
            right += int(sample.pred_label[0] == sample.gt_label[0])
            total += 1
    assert total == 18
    assert metrics['accuracy/top1'] == pytest.approx(100.0 * right / total)


def _run_tool(tool, *args, port=None):
    """A tool in its own process with one thread (`conftest.shell`), so that two runs compute
    the same floats."""
    res = shell(tool, *args, env=dict(PORT=str(port or 0)))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.mark.parametrize('tool,launcher,config,options', [
    ('tools/knn.py', 'tools/dist_knn.sh', 'configs/benchmarks/vit-tiny_knn_cpu.py',
     ['knn.ks=[1,5,20]']),
    ('tools/retrieval.py', 'tools/dist_retrieval.sh',
     'configs/benchmarks/vit-tiny_retrieval-recall_cpu.py', []),
])
def test_two_processes_give_exactly_the_single_process_metrics(pretrain_chain, tmp_path, tool,
                                                               launcher, config, options):
    """21 images per split: the two processes get 11 and 10 (no sample padded or repeated)."""
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=7, size=36,
                             splits=('train', 'val'))
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={data}', *options]
    if tool == 'tools/knn.py':
        opts.insert(1, f'knn_bank_dataloader.dataset.data_root={data}')
    _run_tool(tool, config, pretrain_chain['stage2'], '--out', tmp_path / 'one.json', *opts)
    _run_tool(launcher, config, pretrain_chain['stage2'], '2', '--out', tmp_path / 'two.json',
              *opts, port=free_port())
    one = json.loads((tmp_path / 'one.json').read_text())
    two = json.loads((tmp_path / 'two.json').read_text())
    assert two['metrics'] == one['metrics']
    assert len(one['metrics']) >= 4
    if tool == 'tools/knn.py':  # its logistic regression too (fitted by process 0, sent out)
        assert {'logreg/top1', 'logreg/top5', 'logreg/l2'} <= set(one['metrics'])
    # the provenance says how many processes produced the number, and that the data was the same
    assert (one['provenance']['devices']['count'], two['provenance']['devices']['count']) == (1, 2)
    assert two['provenance']['data'] == one['provenance']['data']


def test_a_process_that_fails_ends_the_run_at_once_and_names_the_file(pretrain_chain, tmp_path):
    """One unreadable image in the second process's shard of the bank: that process fails, and
    the run ends with its error within seconds. It used to wait, in a `finally`, at a barrier the
    first process (inside the feature gather) never reached, and both hung silently until gloo's
    30-minute timeout; the error was printed only after it."""
    import subprocess
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=7, size=36,
                             splits=('train', 'val'))
    bad = osp.join(data, 'train', 'class_0', '1.png')  # sample 1: the second process's
    with open(bad, 'wb') as f:
        f.write(b'not an image')
    out = tmp_path / 'two.json'
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()))
    proc = subprocess.Popen(
        ['bash', 'tools/dist_knn.sh', 'configs/benchmarks/vit-tiny_knn_cpu.py',
         pretrain_chain['stage2'], '2', '--out', str(out), '--cfg-options',
         f'knn_bank_dataloader.dataset.data_root={data}',
         f'test_dataloader.dataset.data_root={data}', 'knn.ks=[1,5,20]'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)  # the fixed run ends in ~10 s
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both processes
        proc.communicate()
        pytest.fail('the 2-process run still hangs after one process failed')
    assert proc.returncode != 0
    assert f'cannot load image {bad}' in output
    assert not out.exists()
