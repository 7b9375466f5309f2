"""Every ```python block of README.md and docs/*.md runs as written, unless its fence says
```python signature (a call signature or a fragment that needs a cluster, see CONTRIBUTING.md).

Each block runs in its own interpreter, in an empty directory, so blocks cannot lean on each
other or on the test process. Blocks that import torch are skipped where torch is not installed.
"""
import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]


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


def test_blocks_are_found_and_markers_are_known():
    assert any(p == "README.md" for p, *_ in RUNNABLE)
    for path, line, words, _ in BLOCKS:
        assert set(words) <= {"signature"}, f"{path}:{line}: unknown fence words {words} (see CONTRIBUTING.md)"


@pytest.mark.parametrize("path, line, words, code", RUNNABLE, ids=[f"{p}:{n}" for p, n, _, _ in RUNNABLE])
def test_python_block_runs(path, line, words, code, tmp_path):
    if re.search(r"^\s*(import|from)\s+torch\b|import torch|regcore\.torch", code, re.M) \
            and importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    script = tmp_path / "block.py"
    script.write_text(code)
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, f"{path}:{line} failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"
