"""tools/preflight/check_dist.py (tools/dist_check.sh): the preflight of a distributed job finds
a shared GPU, a node with other versions, a work dir or data root not every process sees; a
healthy 2-process CPU job passes."""
import copy
import os
import subprocess
import sys

from tools._common import ROOT
from tools.preflight import check_dist


def healthy(world_size=4, hosts=2):
    """Facts of `world_size` processes on `hosts` GPU nodes that agree on everything."""
    per_host = world_size // hosts
    return [dict(host=f'node{r // per_host}', pid=100 + r, cores=32, local_rank=r % per_host,
                 cuda_visible=None, device=f'cuda:{r % per_host}', gpu='NVIDIA H200',
                 gpu_uuid=f'GPU-{r}', gpu_used_gib=0.52, gpu_total_gib=139.8,
                 versions=dict(torch='2.11.0', mmengine='0.10.7',
                                                    commit='abc', dirty=False),
                 data=dict(entries=1000, sha256='d1'), seen=list(range(world_size)))
            for r in range(world_size)]


def test_healthy_facts_give_no_problem():
    assert check_dist.find_problems(healthy(), '/data', '/work', num_workers=10) == ([], [])


def test_each_kind_of_problem_is_named():
    facts = healthy()
    facts[1]['gpu_uuid'] = facts[0]['gpu_uuid']  # two ranks on one GPU
    facts[3]['versions']['torch'] = '2.6.0'  # a node with another environment
    facts[2]['seen'] = [2, 3]  # node1 does not see node0's files
    facts[3]['seen'] = [2, 3]
    facts[3]['data'] = None  # data missing on one rank
    facts[2]['data'] = dict(entries=999, sha256='d2')  # and different on another
    facts[0]['all_reduce_ok'] = False
    facts[2]['gpu_used_gib'] = 61.3  # a process of a failed attempt still holds that GPU
    errors, _ = check_dist.find_problems(facts, '/data', '/work')
    text = '\n'.join(errors)
    assert 'ranks [0, 1] share one GPU (cuda:0 on node0)' in text
    assert "torch differs between processes: 2.11.0 on ranks [0, 1, 2]; 2.6.0 on ranks [3]" in text
    assert 'rank 2 (node1) does not see the files of ranks [0, 1]' in text
    assert 'data root /data does not exist on ranks [3]' in text
    assert '1000 entries on ranks [0, 1]; 999 entries on ranks [2]' in text
    assert 'all-reduce returned a wrong sum on ranks [0]' in text
    assert ('rank 2: 61.3 of 139.8 GiB of cuda:0 on node1 are in use before training starts: '
            'another process holds that GPU') in text
    assert len(errors) == 8


def test_a_busy_gpu_is_more_than_a_cuda_context_in_use():
    facts = healthy()
    facts[1]['gpu_used_gib'] = 6.9  # under 5 % of 139.8 GiB: an MPS daemon, a big context
    assert check_dist.find_problems(facts) == ([], [])
    facts[1]['gpu_used_gib'] = 7.1
    errors, _ = check_dist.find_problems(facts)
    assert errors == ['rank 1: 7.1 of 139.8 GiB of cuda:1 on node0 are in use before training '
                      'starts: another process holds that GPU (one of a failed attempt that '
                      'did not end, another job); nvidia-smi on node0 names it']
    small = healthy()
    small[0].update(gpu_used_gib=2.1, gpu_total_gib=16.0)  # 2 GiB on a small card
    assert len(check_dist.find_problems(small)[0]) == 1
    text = check_dist.report(facts, errors, [], None, None, {})
    assert '| 1 | node0 | 1 | cuda:1 | NVIDIA H200 | 7.1 of 139.8 | - | 32 |' in text


def test_gpu_memory_is_measured_again_while_it_looks_busy():
    """The preflight before a restart may come while the failed attempt's memory is still on its
    way back to the driver: measured again until it is free, or until the time is up."""
    gib = 2 ** 30
    readings = iter([(80 * gib, 140 * gib), (100 * gib, 140 * gib), (139.5 * gib, 140 * gib)])
    assert check_dist.gpu_memory_in_use(lambda index: next(readings), 0, poll_s=0) == (0.5, 140)
    held = check_dist.gpu_memory_in_use(lambda index: (70 * gib, 140 * gib), 0, settle_s=0.05,
                                        poll_s=0.01)
    assert held == (70, 140)


def test_mixed_devices_are_an_error_and_too_many_workers_a_warning():
    facts = healthy()
    facts[3].update(device='cpu', gpu=None, gpu_uuid=None)
    errors, warnings = check_dist.find_problems(copy.deepcopy(facts), num_workers=10)
    assert errors == ['ranks [3] have no GPU while others have one']
    assert warnings == []  # 32 cores for 2 processes: 16 each
    _, warnings = check_dist.find_problems(healthy(), num_workers=16)
    assert warnings == ['node0: 16 dataloader workers per process but about 16 cores each (32 '
                        'visible, 2 processes): workers will compete for cores',
                        'node1: 16 dataloader workers per process but about 16 cores each (32 '
                        'visible, 2 processes): workers will compete for cores']


def test_a_file_only_this_process_wrote_is_all_it_sees(tmp_path):
    seen = check_dist.check_work_dir(str(tmp_path), 'run', rank=0, world_size=2,
                                     barrier=lambda: None, wait_s=0.5)
    assert seen == ([0], None)
    # a work dir this process cannot write: reported (after the barrier), not raised
    blocker = tmp_path / 'file'
    blocker.write_text('')
    barriers = []
    seen, error = check_dist.check_work_dir(str(blocker / 'work'), 'run', rank=0, world_size=2,
                                            barrier=lambda: barriers.append(1))
    assert seen == [] and f'cannot write into {blocker / "work"}' in error and barriers == [1]
    facts = healthy(2, hosts=1)
    facts[1].update(seen=[], work_dir_error=error)
    errors, _ = check_dist.find_problems(facts, work_dir=str(blocker / 'work'))
    assert errors == [f'rank 1 (node0): {error}']


def test_one_process_reports_a_missing_data_root_and_bad_arguments(tmp_path, capsys):
    assert check_dist.main(['--data-root', str(tmp_path / 'nothing'),
                            '--work-dir', str(tmp_path / 'work')]) == 1
    out = capsys.readouterr().out
    assert f'data root {tmp_path / "nothing"} does not exist on ranks [0]' in out
    assert 'verdict: FAILED' in out
    assert not (tmp_path / 'work' / '.dist_check').exists()  # its own files removed
    assert check_dist.main(['--config', str(tmp_path / 'none.py')]) == 2


def test_two_cpu_processes_pass(tmp_path):
    data = tmp_path / 'data'
    for c in ('a', 'b'):
        (data / c).mkdir(parents=True)
    env = dict(os.environ, PYTHON=sys.executable, PORT='29531', OMP_NUM_THREADS='1')
    result = subprocess.run(
        ['bash', 'tools/dist_check.sh', '2', '--work-dir', str(tmp_path / 'work'),
         '--data-root', str(data), '--config', 'configs/mimco/vit-tiny_cpu.py',
         '--json', str(tmp_path / 'facts.json')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert '2 processes on 1 host(s)' in out and '| 1 |' in out
    assert 'all-reduce of ViT-S gradients' in out and 'verdict: OK (0 error(s)' in out
    import json
    facts = json.load(open(tmp_path / 'facts.json'))['facts']
    assert [f['seen'] for f in facts] == [[0, 1], [0, 1]]
    assert facts[0]['pid'] != facts[1]['pid'] and all(f['all_reduce_ok'] for f in facts)
