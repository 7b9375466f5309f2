#!/usr/bin/env python3
"""Build a portable (manylinux) wheel of regcore and prove it works away from the source tree.

    python tools/build_wheel.py                 # -> wheelhouse/regcore-*-manylinux_*.whl

Steps: build the wheel (pip wheel, with the release CUDA architecture list when nvcc is found),
check that LICENSE is inside it, repair it with auditwheel (which retags it manylinux and bundles
any shared library outside the manylinux policy), install the repaired wheel into a fresh virtual
environment in a temporary directory that holds no source, and run a smoke test there. See
docs/packaging.md. Needs: pip, auditwheel (and patchelf if a library has to be bundled).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMOKE = r"""
import os, sys
import numpy as np
import regcore as rc
src = sys.argv[1]
assert not os.path.abspath(rc.__file__).startswith(src + os.sep), rc.__file__
info = rc.build_info()
assert info["native_cpu"], info.get("native_cpu_error")
x = rc.random.normal((1000, 37), generator=rc.Generator(7))
y, mask = rc.dropout(x, p=0.3, generator=rc.Generator(1), mask="bits")
with rc.use_backend("numpy"):
    x2 = rc.random.normal((1000, 37), generator=rc.Generator(7))
    y2, _ = rc.dropout(x2, p=0.3, generator=rc.Generator(1), mask="bits")
assert np.array_equal(x, x2) and np.array_equal(y, y2), "native and NumPy backends disagree"
print("smoke test passed:", rc.__file__, info["isa_active"], "cuda" if info["cuda_compiled"] else "no cuda")
"""


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def license_in(wheel: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        hits = [n for n in z.namelist() if ".dist-info/" in n and os.path.basename(n) == "LICENSE"]
        if not hits:
            raise SystemExit(f"{wheel}: no LICENSE in the wheel's .dist-info")
        if b"Apache License" not in z.read(hits[0]):
            raise SystemExit(f"{wheel}: {hits[0]} is not the Apache-2.0 text")
        return hits[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "wheelhouse"), help="where the repaired wheel goes")
    p.add_argument("--cuda", default=os.environ.get("REGCORE_CUDA", "AUTO"), choices=("AUTO", "ON", "OFF"),
                   help="REGCORE_CUDA for the build (default AUTO: when nvcc is found)")
    p.add_argument("--cuda-archs", default=os.environ.get("REGCORE_CUDA_ARCHS", "all"),
                   help="REGCORE_CUDA_ARCHS (default all: a release wheel runs on any GPU from Turing on)")
    p.add_argument("--plat", default=None, help="auditwheel --plat (default: the best tag this machine allows)")
    p.add_argument("--no-build-isolation", action="store_true", help="build in this environment (faster)")
    p.add_argument("--no-smoke", action="store_true", help="skip the install-and-import check")
    a = p.parse_args(argv)

    os.makedirs(a.out, exist_ok=True)
    env = dict(os.environ, REGCORE_CUDA=a.cuda, REGCORE_CUDA_ARCHS=a.cuda_archs)
    with tempfile.TemporaryDirectory(prefix="regcore-wheel-") as tmp:
        dist = os.path.join(tmp, "dist")
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, ROOT]
        if a.no_build_isolation:
            cmd.insert(4, "--no-build-isolation")
        run(cmd, env=env)
        (wheel,) = glob.glob(os.path.join(dist, "regcore-*.whl"))
        print("LICENSE in the wheel:", license_in(wheel))

        run([sys.executable, "-m", "auditwheel", "show", wheel])
        repair = [sys.executable, "-m", "auditwheel", "repair", "-w", a.out, wheel]
        if a.plat:
            repair[4:4] = ["--plat", a.plat]
        before = set(glob.glob(os.path.join(a.out, "*.whl")))
        run(repair)
        made = sorted(set(glob.glob(os.path.join(a.out, "regcore-*.whl"))) - before) or \
            sorted(glob.glob(os.path.join(a.out, os.path.basename(wheel).split("-linux")[0] + "-*manylinux*.whl")))
        if not made:
            raise SystemExit("auditwheel wrote no wheel")
        repaired = made[-1]
        if "manylinux" not in os.path.basename(repaired):
            raise SystemExit(f"{repaired}: not tagged manylinux")
        license_in(repaired)
        print("repaired wheel:", repaired)

        if not a.no_smoke:
            venv = os.path.join(tmp, "venv")
            run([sys.executable, "-m", "venv", venv])
            py = os.path.join(venv, "bin", "python")
            run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", repaired])
            script = os.path.join(tmp, "smoke.py")
            with open(script, "w") as f:
                f.write(SMOKE)
            # cwd = the temporary directory, which holds no source: the import finds the wheel.
            clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REGCORE_BACKEND", "REGCORE_ISA")}
            run([py, script, ROOT], cwd=tmp, env=clean)
    print(repaired)
    return 0


if __name__ == "__main__":
    sys.exit(main())
