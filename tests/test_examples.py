"""Every script of examples/ runs in its tiny mode, writes its PNG figure(s) and prints numbers.

The scripts are imported and their main() called in this process (one torch import for all,
which keeps the whole file within a few tens of seconds on 2 cores)."""
from __future__ import annotations

import importlib.util
import os
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = {
    "overfitting.py": ["overfitting.png", "overfitting_loss.png"],
    "initialization.py": ["initialization_tanh.png", "initialization_relu.png", "initialization_stats.png"],
    "mc_dropout.py": ["mc_dropout.png"],
    "max_norm.py": ["max_norm.png"],
    "ensembles.py": ["ensembles.png"],
    "stochastic_rounding.py": ["stochastic_rounding.png"],
}
NUMBER = re.compile(r"\d+\.\d+")


def test_every_example_is_listed():
    found = {f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py") and not f.startswith("_")}
    assert found == set(EXAMPLES)


def _load(name):
    path = os.path.join(ROOT, "examples", name)
    spec = importlib.util.spec_from_file_location(f"regcore_example_{name[:-3]}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_tiny(name, tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    mod = _load(name)
    assert "claim" in mod.__doc__.lower()                 # each script states the lecture's claim
    out_dir = tmp_path / "out"
    mod.main(["--tiny", "--out", str(out_dir)])
    printed = capsys.readouterr().out
    assert "Claim" in printed
    assert len(NUMBER.findall(printed)) >= 5, printed     # it prints the numbers it plots
    for png in EXAMPLES[name]:
        data = (out_dir / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png
