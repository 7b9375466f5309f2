"""A fresh ``import regcore`` per run, for the tests of what the environment does at import
(tests/test_env.py, tests/test_threads.py, tests/test_infrastructure.py), without an interpreter
start-up per run: a fork server (tests/_fork_server.py) that has imported NumPy (what
``import regcore`` spends most of its time on before it reads any variable) but never regcore
forks a child per run, which takes the run's environment, executes the code as ``python -c``
does and reports its exit status, stdout and stderr."""
from __future__ import annotations

import atexit
import os
import pathlib
import subprocess
import sys
import tempfile

from _fork_server import ForkServer

TIMEOUT_S = 300

PRELOAD = ("numpy",)


class FreshImport:
    """run(code, env) -> subprocess.CompletedProcess, as subprocess.run([python, "-c", code],
    env=env, capture_output=True, text=True) gives, from a forked child of a server that has
    imported PRELOAD and never regcore."""

    def __init__(self):
        self._dir = pathlib.Path(tempfile.mkdtemp(prefix="regcore-fresh-import-"))
        self.server = ForkServer(PRELOAD, self._dir, timeout_s=TIMEOUT_S)
        self._n = 0

    def run(self, code: str, env: dict) -> subprocess.CompletedProcess:
        self._n += 1
        out, err = self._dir / f"{self._n}.out", self._dir / f"{self._n}.err"
        status = self.server.run(code=code, env=env, stdout=out, stderr=err)
        return subprocess.CompletedProcess(["-c", code], status, out.read_text(), err.read_text())

    def close(self):
        self.server.close()
        for f in self._dir.iterdir():
            f.unlink()
        self._dir.rmdir()


_server = None


def run(code: str, env: dict) -> subprocess.CompletedProcess:
    """FreshImport.run on this process's server (started on first use, ended at exit); without
    fork(), a new interpreter per run."""
    global _server
    if not hasattr(os, "fork"):
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    if _server is None or not _server.server.alive():
        _server = FreshImport()
        atexit.register(_server.close)
    return _server.run(code, env)


def output(code: str) -> str:
    """The stdout of ``code`` run fresh (run(), with this process's environment); a failure
    fails the caller's test with the child's stderr."""
    proc = run(code, dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def imports_module(code: str, module: str) -> bool:
    """Whether running ``code`` (after whatever the fresh child had imported) imports ``module``
    that was not imported before it."""
    probe = f"import sys\nbefore = {module!r} in sys.modules\n{code}\nprint(before, {module!r} in sys.modules)\n"
    before, after = output(probe).split()[-2:]
    return before == "False" and after == "True"
