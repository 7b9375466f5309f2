"""A server interpreter that forks one child per request, so that tests can run many short Python
programs without paying an interpreter start-up (and the imports it preloads) for each.

The server imports the modules named at start (a missing one is skipped: the program then imports
it itself, as a fresh interpreter would) and nothing else. Each request names a program (``code``,
run as ``python -c`` runs it, or a ``script`` path, run as ``python script`` runs it: its folder is
the working directory and sys.path[0]), the files that receive the child's stdout and stderr and,
optionally, the child's whole environment. The child runs it with fresh globals and exits with the
status the interpreter would give (an uncaught exception printed as the interpreter prints it,
status 1); the server answers with that status. Used by tests/_fresh_import.py (import-time
environment tests) and tests/test_docs_code.py (documentation blocks)."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys

SERVER = r"""
import json, os, runpy, sys, traceback
for name in sys.argv[1:]:
    try:
        __import__(name)
    except ImportError:
        pass
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            script = req.get("script")
            if script is not None:
                os.chdir(os.path.dirname(script))
            for fd, name, flags in ((0, os.devnull, os.O_RDONLY),
                                    (1, req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                os.dup2(os.open(name, flags, 0o644), fd)
            if req.get("env") is not None:
                os.environ.clear()
                os.environ.update(req["env"])
            if script is not None:
                sys.argv[:] = [script]
                sys.path[0] = os.path.dirname(script)
                runpy.run_path(script, run_name="__main__")
            else:
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


class ForkServer:
    """ForkServer(preload, cwd, env).run(stdout=..., stderr=..., code=... | script=..., env=None)
    -> the child's exit status."""

    def __init__(self, preload, cwd, env=None, timeout_s=600):
        self.timeout_s = timeout_s
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, *preload], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, **request) -> int:
        self.proc.stdin.write(json.dumps({k: os.fspath(v) if isinstance(v, os.PathLike) else v
                                          for k, v in request.items()}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"the fork server died or timed out ({self.timeout_s} s):\n"
                                 f"{self.proc.stderr.read()[-3000:]}")
        return int(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
