"""Logistic regression on frozen features (mimco_mm/evaluation/logreg.py): the fit reaches the
optimum of its objective, its L2 strength comes from the bank alone, and two processes give
exactly one process's metrics."""
import os

import pytest
import torch
import torch.nn.functional as F

from conftest import free_port
from mimco_mm.evaluation import fit_logistic, gather_in_dataset_order, logreg_across_processes
from mimco_mm.evaluation.logreg import choose_l2


def linear_problem(n=600, dim=16, classes=4, noise=1.0, seed=0):
    """(n, dim) features and labels from a random linear teacher plus Gumbel-like noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    teacher = torch.randn(classes, dim, generator=g)
    y = (x @ teacher.T + noise * torch.randn(n, classes, generator=g)).argmax(1)
    return x, y


def test_the_fit_is_the_minimum_of_its_objective():
    x, y = linear_problem()
    l2 = 1e-2
    weight, bias = fit_logistic(x, y, 4, l2, max_iter=200, chunk=128)  # 5 chunks per pass
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * weight.pow(2).sum()
    grad_w, grad_b = torch.autograd.grad(loss, (weight, bias))
    # strongly convex: a vanishing gradient is the one minimum (an unconverged or wrongly
    # accumulated fit leaves it at ~1e-2)
    assert grad_w.norm() < 1e-4 and grad_b.norm() < 1e-4
    with torch.no_grad():  # and the weights are not the starting zeros
        assert weight.abs().max() > 0.1


def test_classes_a_linear_rule_separates_are_read_and_noise_is_not():
    x, y = linear_problem(n=1000, noise=0.0)
    metrics = logreg_across_processes(x[:800], y[:800], x[800:], y[800:])
    assert metrics['logreg/top1'] >= 90 and metrics['logreg/top5'] == 100.0
    noise = torch.randint(0, 4, (1000, ), generator=torch.Generator().manual_seed(1))
    assert logreg_across_processes(x[:800], noise[:800], x[800:], noise[800:])['logreg/top1'] < 40


def test_the_l2_strength_is_chosen_on_the_bank_and_never_on_the_queries():
    # few samples, many dimensions: the weakest strength overfits, held-out images show it
    x, y = linear_problem(n=300, dim=64, noise=2.0)
    chosen = logreg_across_processes(x[:200], y[:200], x[200:], y[200:])['logreg/l2']
    assert chosen == choose_l2((x[:200] - x[:200].mean(0)) / x[:200].std(0), y[:200], 4)
    shuffled = y[200:][torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    assert logreg_across_processes(x[:200], y[:200], x[200:], shuffled)['logreg/l2'] == chosen
    fixed = logreg_across_processes(x[:200], y[:200], x[200:], y[200:], grid=(0.5, ))
    assert fixed['logreg/l2'] == 0.5
    with pytest.raises(ValueError, match='too small'):
        logreg_across_processes(x[:3], y[:3], x[200:], y[200:])


def _two_process_worker(rank, port, bank, bank_y, query, query_y, out):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        mine = slice(rank, None, 2)  # shard_sampler's share: every 2nd sample
        rows = gather_in_dataset_order(bank[mine])
        metrics = logreg_across_processes(bank[mine], bank_y[mine], query[mine], query_y[mine])
        torch.save(dict(rows=rows, metrics=metrics), f'{out}.{rank}')
    finally:
        dist.destroy_process_group()
    # multiprocessing's worker would end with the interpreter teardown, where gloo's threads can
    # abort it (tools/_common.run_process); an error above still reaches mp.spawn as a traceback
    from tools._common import exit_without_teardown
    exit_without_teardown(0)


def test_two_processes_give_exactly_the_single_process_metrics(tmp_path):
    import torch.multiprocessing as mp
    x, y = linear_problem(n=451, dim=24, classes=7, noise=1.5)  # 301 bank rows: 151 + 150
    bank, bank_y, query, query_y = x[:301], y[:301], x[301:], y[301:]
    mp.spawn(_two_process_worker, nprocs=2,
             args=(free_port(), bank, bank_y, query, query_y, str(tmp_path / 'r')))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' setting: the same floats
    try:
        single = logreg_across_processes(bank, bank_y, query, query_y)
    finally:
        torch.set_num_threads(threads)
    for rank in (0, 1):
        result = torch.load(tmp_path / f'r.{rank}')
        assert torch.equal(result['rows'], bank)  # dataset order restored on every process
        assert result['metrics'] == single


def test_the_benchmark_times_a_problem_that_is_neither_trivial_nor_hopeless():
    from tools.overhead import benchmark_logreg
    result = benchmark_logreg.main(['--bank', '600', '--queries', '300', '--dim', '16',
                                    '--classes', '5', '--device', 'cpu'])
    assert 20 + 10 < result['logreg/top1'] < 100  # chance is 20 %
    assert result['seconds'] > 0 and result['one_fit_seconds'] > 0
