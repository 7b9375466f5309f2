#!/usr/bin/env python3
"""The mutation check: every planted bug of mutations.py must make the CPU execution of the CUDA
sources fail (a wrong result, a shim error such as a divergent barrier, a crash or a hang) in at
least one of two thread orders. Each mutant is built from a temporary copy of the sources, in a
copy of an already built output directory, so only the mutated translation unit recompiles.

usage: mutate.py [BASE_BUILD_DIR]    (builds one first when not given); exit 1 if a bug survives.
MUTATIONS_ONLY=text runs only the mutations whose name contains text.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from mutations import MUTATIONS  # noqa: E402

# SM counts small enough that grid-stride loops wrap (grid_for caps the grid at 32 blocks per SM).
ORDERS = [("fwd", 1), ("rev", 2)]


def build(src_root: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    r = subprocess.run(["bash", str(HERE / "build.sh"), str(src_root), str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"harness build failed:\n{r.stdout}\n{r.stderr}")
    return out / "check_kernels"


def caught(binary: pathlib.Path, family: str) -> str | None:
    """How the bug showed (first order that caught it), or None when every order passed."""
    for order, sms in ORDERS:
        env = dict(os.environ, SIMT_ORDER=order, SIMT_SMS=str(sms))
        try:
            r = subprocess.run([str(binary), family], capture_output=True, text=True, env=env, timeout=300)
        except subprocess.TimeoutExpired:
            return f"{order}: hang"
        if r.returncode != 0:
            lines = (r.stdout + r.stderr).strip().splitlines()
            return f"{order}: " + (lines[0] if lines else f"exit {r.returncode}")[:150]
    return None


def run_all(base: pathlib.Path) -> list[tuple[str, str | None]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        only = os.environ.get("MUTATIONS_ONLY", "")
        for i, (name, fname, old, new, family) in enumerate(MUTATIONS):
            if only not in name:
                continue
            src = tmp / f"src{i}"
            shutil.copytree(ROOT / "csrc", src / "csrc")
            path = src / "csrc" / "cuda" / fname
            text = path.read_text()
            if text.count(old) != 1:
                raise RuntimeError(f"mutation {name!r}: its text occurs {text.count(old)} times in {fname}")
            path.write_text(text.replace(old, new))
            out = tmp / f"out{i}"
            shutil.copytree(base, out)  # keeps mtimes: only the mutated unit recompiles
            results.append((name, caught(build(src, out), family)))
            shutil.rmtree(src)
            shutil.rmtree(out)
    return results


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        base = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tmp) / "base"
        if len(sys.argv) <= 1:
            build(ROOT, base)
        results = run_all(base)
    survived = [n for n, how in results if how is None]
    for name, how in results:
        print(f"{'caught  ' if how else 'SURVIVED'} {name}: {how or ''}")
    print(f"{len(results) - len(survived)} of {len(results)} planted bugs caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
