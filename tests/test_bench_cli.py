"""The main job's command line: it writes report.json, report.md and report.png into the folder
it names, ends with the summary, and Ctrl-C stops it cleanly with what was measured saved."""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from regcore import _native
from regcore.bench import _plot

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")
plot = pytest.mark.skipif(not _plot.available(), reason="matplotlib not installed")


@native
@plot
def test_cli_writes_its_three_files_and_names_the_folder(tmp_path):
    out = subprocess.run([sys.executable, "-m", "regcore.bench", "--quick", "--threads", "1",
                          "--filter", "random.uniform:float32", "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    m = re.search(r"^report: (\S+?)/? \(report\.json, report\.md, report\.png\)$", out.stdout, re.M)
    assert m, out.stdout[-2000:]
    folder = os.path.join(tmp_path, m.group(1))
    assert os.path.dirname(os.path.relpath(folder, tmp_path)) == "bench-results"
    for name in ("report.json", "report.md", "report.png"):
        assert os.path.getsize(os.path.join(folder, name)) > 0, name
    rep = json.load(open(os.path.join(folder, "report.json")))
    assert rep["interrupted"] is False and rep["measured"] == rep["planned"] > 0
    # the summary comes last, before the path: one headline row for the one kernel measured
    tail = out.stdout[out.stdout.rindex("summary ("):]
    assert re.search(r"^random\s+uniform\s+1M\s+float32\s+1\s", tail, re.M), tail
    with open(os.path.join(folder, "report.md")) as f:
        assert f.read().startswith("### Summary")


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
