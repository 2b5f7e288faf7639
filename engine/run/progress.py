"""Progress: a tqdm bar with rate and ETA on a terminal, periodic log lines otherwise."""
from __future__ import annotations

import logging
import sys
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
    def __init__(self, total: int | None, desc: str, enabled: bool = True, every_s: float = 10.0) -> None:
        self.total, self.desc, self.every_s = total, desc, every_s
        self.count = 0
        self.start = self._last = time.monotonic()
        self.bar = tqdm(total=total, desc=desc, unit="item", unit_scale=True, dynamic_ncols=True,
                        smoothing=0.1) if enabled and sys.stderr.isatty() else None
        self.enabled = enabled

    def update(self, n: int) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if self.enabled and now - self._last >= self.every_s:
            self._last = now
            log.info("%s", self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.count / elapsed
        if self.total:
            eta = (self.total - self.count) / rate if rate else float("inf")
            return (f"{self.desc}: {self.count:,}/{self.total:,} items ({100 * self.count / self.total:.0f}%), "
                    f"{format_rate(self.count, elapsed)} items/s, ETA {eta:,.0f}s")
        return f"{self.desc}: {self.count:,} items, {format_rate(self.count, elapsed)} items/s"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
