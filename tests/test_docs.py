"""Every statement the documentation makes about the repository is checked against it: README.md
and docs/*.md name only paths, configs, make targets and tool flags that exist and are accepted,
every markdown table renders, every link and anchor resolves, code cites only doc sections that
exist, comments carry no dates, a figure is stated in one place, and every tool the docs show
is run by some test as a user runs it, in a fresh process."""
import fnmatch
import functools
import glob
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = ['README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))
PAGES += sorted(osp.relpath(p, ROOT) for p in glob.glob(
    osp.join(ROOT, 'configs', '**', 'README.md'), recursive=True))
OUR_DIRS = ('configs', 'tools', 'mimco_mm', 'tests', 'docs', 'requirements')
# Files the docs name that belong to other projects (their reference scripts and configs).
UPSTREAM_FILES = {'eval_knn.py', 'eval_image_retrieval.py', 'setup.py'}
# Shell entry points and the Python tool that parses the arguments after their own.
WRAPPERS = {'tools/dist_train.sh': 'tools/train.py', 'tools/slurm_train.sh': 'tools/train.py',
            'tools/dist_test.sh': 'tools/test.py',
            'tools/dist_check.sh': 'tools/preflight/check_dist.py',
            'tools/dist_knn.sh': 'tools/knn.py', 'tools/dist_retrieval.sh': 'tools/retrieval.py'}
SHELL_TOOLS = ('tools/setup_env.sh', 'tools/gpu_check/gpu_check.sh',
               'tools/install/wheelhouse.sh', 'tools/install/torch_floor.sh',
               'tools/install/gpu_rehearsal.sh', 'tools/transfer.sh')


@functools.lru_cache(maxsize=None)
def read(rel):
    """A file's text, read once per test process (the checks read each page many times)."""
    with open(osp.join(ROOT, rel)) as f:
        return f.read()


def split_code(text):
    """(prose without fenced blocks, [fenced block contents])."""
    blocks, prose, inside, current = [], [], False, []
    for line in text.split('\n'):
        if line.lstrip().startswith('```'):
            if inside:
                blocks.append('\n'.join(current))
                current = []
            inside = not inside
            prose.append('')
            continue
        (current if inside else prose).append(line)
    return '\n'.join(prose), blocks


def spans(text):
    """Inline code spans of the prose."""
    prose, _ = split_code(text)
    return re.findall(r'`([^`\n]+)`', prose)


def expand_braces(token):
    m = re.search(r'\{([^{}]*,[^{}]*)\}', token)
    if not m:
        return [token]
    out = []
    for alt in m.group(1).split(','):
        out += expand_braces(token[:m.start()] + alt + token[m.end():])
    return out


def repo_paths(page):
    """Repository paths a page names, brace-expanded, with their glob patterns kept."""
    text = read(page)
    prose, blocks = split_code(text)
    found = set()
    for chunk in spans(text) + blocks:
        pattern = r'(?<![\w/.~-])((?:%s)/[\w./{},*-]*[\w*}/])' % '|'.join(OUR_DIRS)
        for m in re.finditer(pattern, chunk):
            token = m.group(1)
            if '...' in token:
                continue
            found.update(expand_braces(token))
    return found


def bare_files(page):
    """File names (`x.py`, `ablations/y.py`) a page names in code spans without a top folder."""
    names = set()
    for span in spans(read(page)):
        for token in re.split(r'[\s()]+', span):
            token = token.rstrip(',;:.')
            if re.fullmatch(r'[\w.{},*-]+(/[\w.{},*-]+)*\.(py|sh|yml|txt)', token) and \
                    not token.startswith(OUR_DIRS):
                names.update(expand_braces(token))
    return names


ALL_FILES = None


def files_in_repo():
    global ALL_FILES
    if ALL_FILES is None:
        out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        ALL_FILES = set(out.split())
    return ALL_FILES


@pytest.mark.parametrize('page', PAGES)
def test_every_repository_path_a_page_names_exists(page):
    missing = [p for p in sorted(repo_paths(page)) if not glob.glob(osp.join(ROOT, p))]
    assert not missing, f'{page} names paths that do not exist: {missing}'
    files = files_in_repo()
    folders = {part for f in files for part in f.split('/')[:-1]}
    # `x.py` or `ablations/x.py` is ours; `meta/train.txt` (no such folder here) is data or output
    ours = [name for name in sorted(bare_files(page)) if name not in UPSTREAM_FILES and
            ('/' not in name or name.split('/')[0] in folders)]
    absent = [name for name in ours if not any(
        fnmatch.fnmatch(f, name) or fnmatch.fnmatch(f, '*/' + name) for f in files)]
    assert not absent, f'{page} names files that are nowhere in the repository: {absent}'


def slug(heading):
    """GitHub's anchor for a heading."""
    s = re.sub(r'[^\w\- ]', '', heading.strip().lower().replace('`', ''))
    return s.replace(' ', '-')


@functools.lru_cache(maxsize=None)
def headings(rel):
    prose, _ = split_code(read(rel))
    return tuple(m.group(2).strip() for m in re.finditer(r'^(#+)\s+(.*)$', prose, re.M))


@pytest.mark.parametrize('page', PAGES)
def test_every_link_and_anchor_resolves(page):
    prose, _ = split_code(read(page))
    bad = []
    for target in re.findall(r'\]\(([^)\s]+)\)', prose):
        if re.match(r'[a-z]+://', target):
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(osp.join(osp.dirname(osp.join(ROOT, page)), path)) if path else \
            osp.join(ROOT, page)
        if not osp.exists(full):
            bad.append(f'{target}: no such file')
        elif anchor and anchor not in {slug(h) for h in headings(osp.relpath(full, ROOT))}:
            bad.append(f'{target}: no heading with that anchor')
    assert not bad, f'{page}: {bad}'


def table_cells(row):
    row = re.sub(r'`[^`]*`', 'x', row.replace('\\|', 'x'))
    return row.strip().strip('|').split('|')


@pytest.mark.parametrize('page', PAGES)
def test_every_markdown_table_renders(page):
    """A table is a header, a separator and rows of the header's width; a row cut off by a blank
    line renders as plain text."""
    prose, _ = split_code(read(page))
    lines, bad, i = prose.split('\n'), [], 0
    while i < len(lines):
        if not lines[i].lstrip().startswith('|'):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].lstrip().startswith('|'):
            i += 1
        block = lines[start:i]
        separator = r'\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*\|?\s*'
        if len(block) < 2 or not re.fullmatch(separator, block[1].strip()):
            bad.append(f'line {start + 1}: a table without header and separator: {block[0][:60]}')
            continue
        width = len(table_cells(block[0]))
        bad += [f'line {start + 1 + k}: {len(table_cells(r))} cells, header has {width}'
                for k, r in enumerate(block) if len(table_cells(r)) != width]
    assert not bad, f'{page}: {bad}'


def makefile_targets():
    return set(re.findall(r'^([\w-]+):', read('Makefile'), re.M))


@pytest.mark.parametrize('page', PAGES)
def test_every_make_target_a_page_names_exists(page):
    _, blocks = split_code(read(page))
    named = {target for chunk in spans(read(page)) + blocks
             for target in re.findall(r'(?<![\w-])make ([a-z][\w-]*)', chunk)}
    assert named <= makefile_targets(), f'{page}: no such make target: {named - makefile_targets()}'


def commands(page):
    """(tool, [arguments]) for every command line that runs one of our tools: fenced blocks
    (continuation lines joined, `sbatch --wrap "..."` opened) and inline spans."""
    text = read(page)
    _, blocks = split_code(text)
    lines = []
    for block in blocks:
        lines += block.replace('\\\n', ' ').split('\n')
    # a span that runs a tool (a tool path with arguments), not one that only names the file
    lines += [s for s in spans(text) if re.search(r'(^|\s|/)tools/[\w/]+\.(py|sh)', s) and ' ' in s]
    out = []
    for line in lines:
        line = line.split(' #')[0].strip()
        if line.startswith('#') or not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if '--wrap' in words:
            words = shlex.split(words[words.index('--wrap') + 1])
        for k, w in enumerate(words):
            if re.fullmatch(r'(\./)?tools/[\w/]+\.(py|sh)', w):
                out.append((w.lstrip('./'), words[k + 1:]))
                break
        for w in words:  # WHEELHOUSE_ARGS="--only pretrain" belongs to make's script
            m = re.fullmatch(r'(WHEELHOUSE|FLOOR)_ARGS=(.*)', w)
            if m:
                tool = {'WHEELHOUSE': 'tools/install/wheelhouse.sh',
                        'FLOOR': 'tools/install/torch_floor.sh'}[m.group(1)]
                out.append((tool, shlex.split(m.group(2))))
    return out


def flags(args):
    return {a.split('=')[0] for a in args if re.fullmatch(r'--[a-z][\w-]*(=.*)?', a)}


def help_text(tool):
    """What `python TOOL --help` prints, run in this process (runpy, as `__main__`): (exit
    status, output). The tools' own imports are shared with the test process, so this costs
    milliseconds, not a fresh interpreter per tool."""
    import contextlib
    import io
    import runpy
    out, argv = io.StringIO(), sys.argv
    sys.argv = [tool, '--help']
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            runpy.run_path(osp.join(ROOT, tool), run_name='__main__')
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return status, out.getvalue()


def test_every_documented_python_tool_takes_its_flags():
    shown = {}
    for page in PAGES:
        for tool, args in commands(page):
            tool = WRAPPERS.get(tool, tool)
            if tool.endswith('.py'):
                shown.setdefault(tool, set()).update(flags(args))
    assert 'tools/train.py' in shown and 'tools/benchmark.py' in shown
    problems = []
    for tool in sorted(shown):
        status, text = help_text(tool)
        if status != 0:
            problems.append(f'{tool} --help exits {status}: {text[-500:]}')
            continue
        problems += [f'{tool} has no {flag}' for flag in sorted(shown[tool])
                     if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(flag), text)]
    assert not problems, problems


def test_every_documented_shell_tool_takes_its_flags():
    problems = []
    for page in PAGES:
        for tool, args in commands(page):
            if tool in SHELL_TOOLS:
                source = read(tool)
                problems += [f'{page}: {tool} has no {flag}' for flag in sorted(flags(args))
                             if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(flag), source)]
            elif tool.endswith('.sh'):
                assert tool in WRAPPERS, f'{page}: {tool}: add it to WRAPPERS or SHELL_TOOLS'
    assert not problems, problems


def test_every_config_a_page_names_loads():
    from mmengine.config import Config
    named = set()
    for page in PAGES:
        named |= {p for p in repo_paths(page) if p.startswith('configs/') and p.endswith('.py')}
    assert 'configs/mimco/vit-s_100e.py' in named
    bad = []
    for path in sorted(named):
        for match in glob.glob(osp.join(ROOT, path)):
            try:
                Config.fromfile(match)
            except Exception as e:  # noqa: BLE001  every failure is reported with its file
                bad.append(f'{path}: {type(e).__name__}: {e}')
    assert not bad, bad


def metafiles():
    return sorted(glob.glob(osp.join(ROOT, 'configs', '**', 'metafile.yml'), recursive=True))


def test_metafiles_point_at_existing_configs_and_collections():
    import yaml
    assert metafiles(), 'no configs/*/metafile.yml'
    for path in metafiles():
        with open(path) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name'] for c in meta.get('Collections', [])}
        assert meta.get('Models'), f'{path}: no Models'
        for model in meta['Models']:
            assert model['In Collection'] in collections, f'{path}: {model["Name"]}'
            assert osp.isfile(osp.join(ROOT, model['Config'])), f'{path}: {model["Config"]}'
            for result in model.get('Results') or []:
                assert result.get('Metrics'), f'{path}: {model["Name"]}: a result without metrics'


def test_the_protocol_metafile_is_the_protocol_table():
    import yaml

    from mimco_mm.benchmark.protocols import PROTOCOLS
    with open(osp.join(ROOT, 'configs', 'benchmarks', 'metafile.yml')) as f:
        models = {m['Config']: m['Metadata'] for m in yaml.safe_load(f)['Models']}
    want = {f'configs/benchmarks/{config}': (task, reference, differences)
            for config, differences, task, reference, _, _ in PROTOCOLS}
    got = {config: (meta['transfer.sh task'], meta['Reference'], meta['Known differences'])
           for config, meta in models.items()}
    assert got == want


def code_files():
    out = []
    for top in ('mimco_mm', 'tools', 'configs', 'tests'):
        for dirpath, _, names in os.walk(osp.join(ROOT, top)):
            out += [osp.join(dirpath, n) for n in names if n.endswith(('.py', '.sh'))]
    return sorted(out)


OUTPUT_MDS = {'report.md', 'results.md', 'summary.md'}  # what our tools write


def test_code_cites_only_doc_sections_and_files_that_exist():
    bad, files = [], files_in_repo()
    mds = {osp.basename(f) for f in files if f.endswith('.md')}
    for path in code_files():
        with open(path) as f:
            text = f.read()
        flat = re.sub(r'\s*\n\s*#?\s*', ' ', text)  # citations wrap across comment lines
        rel = osp.relpath(path, ROOT)
        for m in re.finditer(r'(README(?:\.md)?|docs/[\w/]+\.md),? ((?:"[^"]+"(?:, )?)+)', flat):
            if re.search(r'[\w-]+/[\w.-]+ $', flat[max(0, m.start() - 60):m.start()]):
                continue  # another project's README (bytedance/ibot README, "...")
            page = 'README.md' if m.group(1).startswith('README') else m.group(1)
            if not osp.isfile(osp.join(ROOT, page)):
                bad.append(f'{rel}: cites {page}, which does not exist')
                continue
            for section in re.findall(r'"([^"]+)"', m.group(2)):
                if section not in headings(page):
                    bad.append(f'{rel}: cites {page} "{section}", no such section')
        for name in set(re.findall(r'(?<![\w/.-])([\w-]+\.md)\b', text)):
            if name not in mds and name not in OUTPUT_MDS:
                bad.append(f'{rel}: names {name}, which is not in the repository')
    assert not bad, bad


def test_comments_and_docstrings_carry_no_dates():
    """When something changed belongs in docs/changelog.md and commit messages; a path of a dated
    GPU result under docs/gpu_check/ is a name, not a date."""
    bad = []
    for path in code_files():
        if osp.relpath(path, ROOT).startswith('tests'):
            continue
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = re.sub(r'docs/gpu_check/[\w.-]+', '', line)
                if re.search(r'\b20\d\d-\d\d-\d\d\b|\b(until|before|since) 20\d\d\b', line):
                    bad.append(f'{osp.relpath(path, ROOT)}:{n}: {line.strip()[:80]}')
    assert not bad, bad


def test_a_measured_figure_is_stated_in_one_place():
    """Pages link to a figure's page instead of repeating it (a repeated figure goes stale)."""
    figures = {'the demo table': '| MimCo (from that teacher) |',
               'the H200 ViT-S MimCo rate': '3489',
               "the H200 Runner-path iteration": '102.3',
               'the make test time': 'tests in 8 min'}
    for what, text in figures.items():
        where = [p for p in PAGES if text in read(p)]
        assert len(where) == 1, f'{what} ({text!r}) is stated in {where}'


def test_readme_is_a_landing_page():
    text = read('README.md')
    assert len(text.split('\n')) <= 200
    for path in ('## Install on a GPU cluster', '## Pre-train', '## Transfer from one checkpoint',
                 '## Regenerate the tables', '## Results'):
        assert path in text


def test_every_documented_tool_runs_in_a_fresh_process_in_some_test():
    """A tool called only in-process can pass its tests and still fail from the shell (a registry
    scope another test had set, say): each tool the docs show is started by some test with
    subprocess, by its path, as a user starts it."""
    shown = {tool for page in PAGES for tool, _ in commands(page)}
    sources = {}
    for path in glob.glob(osp.join(ROOT, 'tests', '*.py')):
        with open(path) as f:
            text = f.read()
        if ('subprocess' in text or 'shell(' in text) and osp.basename(path) != 'test_docs.py':
            sources[osp.basename(path)] = text
    untested = []
    for tool in sorted(shown):
        parts = tool.split('/')
        # 'tools/train.py', or osp.join(ROOT, 'tools', 'train.py'), or a name beside 'tools'
        pattern = re.escape(tool) + '|' + r"""['"]%s['"]""" % re.escape(parts[-1])
        if not any(re.search(pattern, text) for text in sources.values()):
            untested.append(tool)
    assert not untested, f'no test starts these from the shell: {untested}'
