"""A progress bar on stderr (redrawn in place on a terminal; a line per 10% otherwise)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total = max(1, total)
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_decile = -1

    def step(self, label: str) -> None:
        """Announce the task about to run."""
        if not self.enabled:
            return
        frac = self.done / self.total
        elapsed = time.perf_counter() - self.start
        # Time left at the rate so far: rows differ in cost, but the plan interleaves cheap
        # native rows with slower Python-timed ones per kernel, so the mean settles early.
        left = f" ~{elapsed / self.done * (self.total - self.done):.0f}s left" if self.done else ""
        if self.tty:
            width = 30
            bar = "#" * int(frac * width) + "." * (width - int(frac * width))
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s{left} {label[:50]:<50}")
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(f"[{self.done}/{self.total} {elapsed:.0f}s{left}] {label}\n")
                self.stream.flush()

    def advance(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            end = "\r" + " " * 110 + "\r" if self.tty else ""
            self.stream.write(f"{end}{self.done} measurements in {elapsed:.0f}s\n")
            self.stream.flush()
