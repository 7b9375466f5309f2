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
import select
import subprocess
import sys

import pytest

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

# The runner: imports the modules named on its command line, then for each script path read from
# stdin forks a child that runs the script as __main__ (fresh globals, its directory as working
# directory and sys.path[0], stdout/stderr to files beside it) and answers with the exit code.
RUNNER = r"""
import os, runpy, sys, traceback
for name in sys.argv[1:]:
    __import__(name)
for line in sys.stdin:
    script = line.rstrip("\n")
    folder = os.path.dirname(script)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(folder)
            for fd, name, flags in ((0, os.devnull, os.O_RDONLY),
                                    (1, "stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                os.dup2(os.open(name, flags, 0o644), fd)
            sys.argv[:] = [script]
            sys.path[0] = folder
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class _Runner:
    def __init__(self, modules, cwd):
        env = dict(os.environ, MPLBACKEND="Agg")
        self.proc = subprocess.Popen([sys.executable, "-c", RUNNER, *modules], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, script):
        """The exit code of ``script`` run in a forked child; its output is in stdout.txt and
        stderr.txt beside it."""
        self.proc.stdin.write(f"{script}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"the block runner died or timed out ({TIMEOUT_S} s):\n"
                                 f"{self.proc.stderr.read()[-3000:]}")
        return int(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture(scope="module")
def runners(tmp_path_factory):
    """A runner per set of preloaded modules, started on first use, ended with the module (under
    pytest-xdist, one per worker that runs blocks of its kind)."""
    started = {}

    def get(modules):
        if modules not in started:
            started[modules] = _Runner(modules, tmp_path_factory.mktemp("runner"))
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
        code_ = runner.run(script)
        stderr = (tmp_path / "stderr.txt").read_text()
    else:                                # no fork: a fresh interpreter per block
        env = dict(os.environ, MPLBACKEND="Agg")
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=TIMEOUT_S)
        code_, stderr = out.returncode, out.stderr
    assert code_ == 0, f"{path}:{line} failed:\n{code}\n--- stderr ---\n{stderr[-3000:]}"
