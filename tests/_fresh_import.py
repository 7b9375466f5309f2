"""A fresh ``import regcore`` per run, for the tests of what the environment does at import
(tests/test_env.py, tests/test_threads.py), without an interpreter start-up per run: a server
process imports NumPy and ml_dtypes (what ``import regcore`` spends most of its time on before it
reads any variable) but never regcore, and for each run forks a child that takes the run's
environment, executes the code as ``python -c`` does (uncaught exceptions printed as the
interpreter prints them, exit status 1) and reports its exit status, stdout and stderr."""
from __future__ import annotations

import atexit
import json
import os
import pathlib
import select
import subprocess
import sys
import tempfile

TIMEOUT_S = 300

SERVER = r"""
import json, os, sys, traceback
for name in ("numpy", "ml_dtypes"):
    try:
        __import__(name)
    except ImportError:
        pass
assert "regcore" not in sys.modules
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name, flags in ((0, os.devnull, os.O_RDONLY),
                                    (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                os.dup2(os.open(name, flags, 0o644), fd)
            os.environ.clear()
            os.environ.update(req["env"])
            sys.argv[:] = ["-c"]
            exec(compile(req["code"], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
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


class FreshImport:
    """run(code, env) -> subprocess.CompletedProcess, as subprocess.run([python, "-c", code],
    env=env, capture_output=True, text=True) gives, from a forked child of the server."""

    def __init__(self):
        self._dir = pathlib.Path(tempfile.mkdtemp(prefix="regcore-fresh-import-"))
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], cwd=self._dir, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._n = 0

    def run(self, code: str, env: dict) -> subprocess.CompletedProcess:
        self._n += 1
        out, err = self._dir / f"{self._n}.out", self._dir / f"{self._n}.err"
        self.proc.stdin.write(json.dumps({"code": code, "env": env, "stdout": str(out), "stderr": str(err)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"the import server died or timed out ({TIMEOUT_S} s):\n{self.proc.stderr.read()[-3000:]}")
        return subprocess.CompletedProcess(["-c", code], int(line), out.read_text(), err.read_text())

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
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
    if _server is None or _server.proc.poll() is not None:
        _server = FreshImport()
        atexit.register(_server.close)
    return _server.run(code, env)
