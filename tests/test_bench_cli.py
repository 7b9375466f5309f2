"""The main job's command line: it writes report.json, report.md and report.png into the folder
it names, ends with the summary, writes --json where asked, runs a kernel of every family, refuses
bad options, and Ctrl-C stops it cleanly with what was measured saved.

One `python -m regcore.bench --quick` process (made once per session) serves every test that
reads a complete run: each such process costs seconds of interpreter, import and copy-baseline time on
2 cores, whatever it measures."""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from regcore import _native
from regcore.bench import _plot, _runner
from regcore.bench.__main__ import main as bench_main

from _bench_report import FAMILIES, check_row

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
plot = pytest.mark.skipif(not _plot.available(), reason="matplotlib not installed")

# One kernel of each family (every kernel of every family, at every dtype, is run and its rows
# checked in the test process by test_bench_smoke.py's tiny_report; a family-prefix filter is
# checked by test_torch_bench.py), at the default thread counts (1 and all).
FILTER = ("random.uniform:float32,init.trunc_normal:float32,dropout.forward_bits:float32,"
          "batchnorm.inference_nc:float32,sgd.momentum_wd:float32")


def _quick_run(folder):
    proc = subprocess.run([sys.executable, "-m", "regcore.bench", "--quick", "--filter", FILTER,
                           "--no-progress", "--json", str(folder / "bench.json")],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr), ("returncode", str(proc.returncode))):
        (folder / f"{name}.txt").write_text(text)


@pytest.fixture
def quick_run(once):
    """(stdout, working directory, the --json report) of one quick run over FILTER, made once per
    test session (also under pytest-xdist: the first worker to ask runs it, the others read it)."""
    folder = once("bench-cli-quick-run", _quick_run)
    assert (folder / "returncode.txt").read_text() == "0", (folder / "stderr.txt").read_text()
    return (folder / "stdout.txt").read_text(), folder, json.loads((folder / "bench.json").read_text())


@native
@plot
def test_cli_writes_its_three_files_and_names_the_folder(quick_run):
    stdout, cwd, _ = quick_run
    m = re.search(r"^report: (\S+?)/? \(report\.json, report\.md, report\.png\)$", stdout, re.M)
    assert m, stdout[-2000:]
    folder = os.path.join(cwd, m.group(1))
    assert os.path.dirname(os.path.relpath(folder, cwd)) == "bench-results"
    for name in ("report.json", "report.md", "report.png"):
        assert os.path.getsize(os.path.join(folder, name)) > 0, name
    rep = json.load(open(os.path.join(folder, "report.json")))
    assert rep["interrupted"] is False and rep["measured"] == rep["planned"] > 0
    # the summary comes last, before the path: the headline row of random.uniform float32 is its
    # largest quick size at the most threads
    most = max(rep["options"]["threads"])
    tail = stdout[stdout.rindex("summary ("):]
    assert re.search(rf"^random\s+uniform\s+1M\s+float32\s+{most}\s", tail, re.M), tail
    with open(os.path.join(folder, "report.md")) as f:
        assert f.read().startswith("### Summary")


def test_cli_quick_json(quick_run):
    stdout, _, rep = quick_run
    assert "random.uniform" in stdout
    assert rep["schema"] == _runner.SCHEMA
    assert set(rep) >= {"created", "elapsed_s", "machine", "options", "baseline", "results", "skipped"}
    assert rep["options"]["quick"] is True and rep["options"]["filter"] == FILTER
    # no --threads: 1 and the default count, each measured
    assert rep["options"]["threads"][0] == 1
    assert rep["results"]
    assert {r["threads"] for r in rep["results"] if r["timing"] == "native"} == set(rep["options"]["threads"])
    for r in rep["results"]:
        assert r["id"] in FILTER.split(","), r["id"]
        check_row(r)


def test_cli_quick_every_family(quick_run):
    _, _, rep = quick_run
    assert {r["family"] for r in rep["results"]} == FAMILIES


@pytest.mark.parametrize("args", [["--threads", "0"], ["--sizes", "12Q"], ["--isa", "sse9"]])
def test_cli_rejects_bad_options(args, capsys):
    # In this process: argparse exits with status 2 for the first two, main() returns 2 for an ISA
    # level this machine lacks; the `python -m regcore.bench` entry point passing main()'s status
    # to sys.exit is checked by the processes of the other tests (0 and 130).
    try:
        status = bench_main(["--quick", *args])
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    assert capsys.readouterr().err


@native
def test_ctrl_c_stops_cleanly_and_writes_what_was_measured(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "regcore.bench", "--quick", "--threads", "1",
                             "--out", str(tmp_path / "r")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # A child inherits an ignored SIGINT (some libraries loaded earlier in the
                            # test session ignore it), and Python then installs no KeyboardInterrupt.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # The progress lines (one per 10% off a terminal) say how many rows are done: wait for one
        # past the first, so that something has been measured.
        for line in proc.stderr:
            m = re.match(r"\[(\d+)/(\d+) ", line)
            if m and int(m.group(1)) > 0:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    rep = json.load(open(tmp_path / "r" / "report.json"))
    assert rep["interrupted"] is True
    assert 0 < rep["measured"] < rep["planned"]
    assert "INTERRUPTED" in stdout and "report: " in stdout
    assert (tmp_path / "r" / "report.md").exists()
