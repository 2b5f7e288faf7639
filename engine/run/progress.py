"""Progress: a tqdm bar with rate and ETA on a terminal, periodic log lines otherwise."""
from __future__ import annotations

import logging
import sys
import threading
import time

from tqdm import tqdm

log = logging.getLogger("archscore")


def format_rate(count: float, seconds: float) -> str:
    """A rate with useful precision: 131,000 / 12.5 / 1.25 / 0.0125."""
    if seconds <= 0:
        return "n/a"
    rate = count / seconds
    if rate >= 100:
        return f"{rate:,.0f}"
    return f"{rate:.3g}"


class Progress:
    """On a terminal a bar; otherwise a log line every ``every_s`` seconds from a ticker thread,
    whether or not a batch finished in between (a slow batch must not silence the log)."""

    def __init__(self, total: int | None, desc: str, enabled: bool = True, every_s: float = 10.0) -> None:
        self.total, self.desc, self.every_s = total, desc, every_s
        self.count = 0
        self.start = time.monotonic()
        self.bar = tqdm(total=total, desc=desc, unit="item", unit_scale=True, dynamic_ncols=True,
                        smoothing=0.1) if enabled and sys.stderr.isatty() else None
        self.enabled = enabled
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if enabled and self.bar is None:
            self._ticker = threading.Thread(target=self._tick, name="archscore-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.every_s):
            log.info("%s", self.line())

    def update(self, n: int) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.count / elapsed
        if self.total:
            eta = f"{(self.total - self.count) / rate:,.0f}s" if rate else "unknown (no batch finished yet)"
            return (f"{self.desc}: {self.count:,}/{self.total:,} items ({100 * self.count / self.total:.0f}%), "
                    f"{format_rate(self.count, elapsed)} items/s, ETA {eta}")
        return f"{self.desc}: {self.count:,} items, {format_rate(self.count, elapsed)} items/s"

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1.0)
        if self.bar is not None:
            self.bar.close()
