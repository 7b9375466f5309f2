"""Signals deferred while an optimizer step writes, so a step is all groups or none.

Every group is validated before the first write (a bad tensor or hyper-parameter in any group
raises with nothing written), but the writes themselves are one native call per group. A Ctrl-C
arriving between two calls would leave group 0 stepped, group 1 not and ``step_count``
unchanged, and a retry would step group 0 twice. While the writes run, SIGINT (and SIGTERM when
Python handles it) is recorded instead of raised; when the step has finished and ``step_count``
is updated, the recorded signals are raised again, so the handler the caller installed (Python's
default one raises KeyboardInterrupt) runs as usual, just after the step.

Signal handlers can only be set from the main thread; in another thread nothing needs deferring
because Python delivers signals to the main thread only.
"""
from __future__ import annotations

import contextlib
import signal
import threading

_DEFERRED = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


@contextlib.contextmanager
def signals_deferred():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def record(signum, frame):
        pending.append(signum)

    previous = {}
    try:
        for sig in _DEFERRED:
            old = signal.getsignal(sig)
            # Only handlers Python installed can be restored (None: set outside Python); SIG_DFL
            # and SIG_IGN are left alone: the first would kill the process anyway, the second drops it.
            if callable(old):
                previous[sig] = old
                signal.signal(sig, record)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)
