"""Every ```python block of README.md and docs/*.md runs as written, unless its fence says
```python signature (a call signature or a fragment that needs a cluster, see CONTRIBUTING.md).

Each block runs in a process of its own, in an empty directory, with fresh globals, so blocks cannot
lean on each other or on the test process. The processes are forked from a runner interpreter that
has only imported the libraries the block imports itself (numpy and regcore; torch and
regcore.torch for a block that imports torch) and run nothing else: a block starts as it would in a
fresh interpreter, less the seconds of importing torch, once per block, on a 2-core machine.
Blocks that import torch are skipped where torch is not installed.
"""
import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from _fork_server import ForkServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
USES_TORCH = re.compile(r"^\s*(import|from)\s+torch\b|import torch|regcore\.torch", re.M)
TIMEOUT_S = 600


def python_blocks(path):
    """(line, words after the language, code) of every python block of a Markdown file."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    out = []
    for m in FENCE.finditer(text):
        words = m.group("info").split()
        if words and words[0] in ("python", "py"):
            out.append((text[: m.start()].count("\n") + 1, words[1:], m.group("body")))
    return out


BLOCKS = [(path, line, words, code) for path in DOCS for line, words, code in python_blocks(path)]
RUNNABLE = [b for b in BLOCKS if "signature" not in b[2]]

@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    """A runner per set of preloaded modules, started on first use, ended with the module (under
    pytest-xdist, one per worker that runs blocks of its kind)."""
    started = {}

    def get(modules):
        if modules not in started:
            started[modules] = ForkServer(modules, tmp_path_factory.mktemp("runner"),
                                          env=dict(os.environ, MPLBACKEND="Agg"), timeout_s=TIMEOUT_S)
        return started[modules]

    yield get
    for r in started.values():
        r.close()


def test_blocks_are_found_and_markers_are_known():
    assert any(p == "README.md" for p, *_ in RUNNABLE)
    for path, line, words, _ in BLOCKS:
        assert set(words) <= {"signature"}, f"{path}:{line}: unknown fence words {words} (see CONTRIBUTING.md)"


@pytest.mark.parametrize("path, line, words, code", RUNNABLE, ids=[f"{p}:{n}" for p, n, _, _ in RUNNABLE])
def test_python_block_runs(path, line, words, code, tmp_path, runners):
    torch_block = USES_TORCH.search(code) is not None
    if torch_block and importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    script = tmp_path / "block.py"
    script.write_text(code)
    if hasattr(os, "fork"):
        runner = runners(("numpy", "regcore", "torch", "regcore.torch") if torch_block else ("numpy", "regcore"))
        code_ = runner.run(script=script, stdout=tmp_path / "stdout.txt", stderr=tmp_path / "stderr.txt")
        stderr = (tmp_path / "stderr.txt").read_text()
    else:                                # no fork: a fresh interpreter per block
        env = dict(os.environ, MPLBACKEND="Agg")
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=TIMEOUT_S)
        code_, stderr = out.returncode, out.stderr
    assert code_ == 0, f"{path}:{line} failed:\n{code}\n--- stderr ---\n{stderr[-3000:]}"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the forked runner needs fork()")
def test_the_runner_fails_what_a_fresh_interpreter_would_fail(tmp_path, runners):
    """A block runs as a script of its own: its exceptions fail it, and it sees none of the
    runner's preloaded names (numpy is imported there, but a block must import it itself)."""
    runner = runners(("numpy", "regcore"))
    for i, (code, want_ok) in enumerate([("import numpy as np\nprint(np.zeros(2).sum())", True),
                                         ("raise ValueError('planted')", False),
                                         ("np.zeros(1)", False)]):
        folder = tmp_path / str(i)
        folder.mkdir()
        script = folder / "block.py"
        script.write_text(code)
        status = runner.run(script=script, stdout=folder / "stdout.txt", stderr=folder / "stderr.txt")
        assert (status == 0) == want_ok, (code, (folder / "stderr.txt").read_text())
        if want_ok:
            assert (folder / "stdout.txt").read_text().strip() == "0.0"
