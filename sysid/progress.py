"""A fit's progress as a person can follow it.

On a terminal: one tqdm bar per stage, with its evaluation total and time left. Elsewhere (a log
file, a CI job): one plain line every `interval` seconds, from a background thread so that a
long Jacobian still shows the fit is alive, with the stage, evaluations, best loss, elapsed
time and the stage's estimated time left.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from tqdm.auto import tqdm

INTERVAL_S = 10.0  # seconds between two lines when the output is not a terminal


class Progress:
    """Reports the stages of one fit.

    Args:
      enabled: False reports nothing.
      stream: where to write (default stderr); a terminal gets a bar, anything else lines.
      interval: s between two lines when not on a terminal.
    """

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None, interval: float = INTERVAL_S):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.terminal = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.start = time.perf_counter()
        self.label, self.total, self.done, self.best = "", None, 0, float("inf")
        self.stage_start = self.start
        self._bar: tqdm | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if enabled and not self.terminal:
            self._thread = threading.Thread(target=self._lines, daemon=True, name="sysid-progress")
            self._thread.start()

    def stage(self, label: str, total: int | None) -> None:
        """A new stage named `label` starts, expected to spend about `total` evaluations (None: unknown)."""
        with self._lock:
            self.label, self.total, self.done, self.best = label, total, 0, float("inf")
            self.stage_start = time.perf_counter()
            if self.terminal:
                if self._bar is not None:
                    self._bar.close()
                self._bar = tqdm(total=total, desc=label, unit="eval", dynamic_ncols=True, leave=False, file=self.stream)

    def update(self, done: int, best: float) -> None:
        """`done` evaluations of the current stage so far; `best` the lowest loss seen."""
        with self._lock:
            self.done, self.best = done, best
            if self._bar is not None:
                if self._bar.total is not None and done > self._bar.total:
                    self._bar.total = done
                self._bar.update(done - self._bar.n)
                self._bar.set_postfix(best_loss=f"{best:.4g}", refresh=False)

    def line(self) -> str:
        """The current state in one line."""
        now = time.perf_counter()
        stage_s = now - self.stage_start
        text = (f"sysid: {self.label}: {self.done}" + (f"/{self.total}" if self.total else "") +
                f" evaluations, best loss {self.best:.4g}, elapsed {_clock(now - self.start)}")
        if self.total and self.done:
            text += f", stage about {_clock(stage_s * max(self.total - self.done, 0) / self.done)} left (at most)"
        return text

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._bar is not None:
            self._bar.close()

    def _lines(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self.label:
                    print(self.line(), file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
