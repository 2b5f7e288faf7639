"""What a run's rows say: counts by estimator and status, and the first-rows check that turns a
failure shared by every architecture into a run error before anything is committed."""
from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa

from archscore.engine.run.errors import UniformFailure
from archscore.engine.run.schema import STATUS_ERROR, STATUS_INVALID, STATUS_OK, STATUSES


class StatusCounts:
    """Rows per (estimator, status) of the rows written by this run."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, table: pa.Table) -> None:
        grouped = table.group_by(["estimator", "status"], use_threads=False).aggregate([("status", "count")])
        for est, status, n in zip(*(grouped.column(c).to_pylist() for c in ("estimator", "status", "status_count"))):
            self.counts[est][status] += n

    @property
    def ok(self) -> int:
        return sum(c[STATUS_OK] for c in self.counts.values())

    @property
    def rows(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def lines(self) -> list[str]:
        return [f"{est}: " + ", ".join(f"{c[s]:,} {s}" for s in STATUSES if c[s])
                for est, c in sorted(self.counts.items())]


class UniformFailureCheck:
    """Watches the first ``needed`` valid architectures of a run.

    If an estimator failed on every one of them with one and the same message, the cause is the
    run's set-up (a missing file, a bad option, a broken plugin), not the architectures: the
    driver raises :class:`UniformFailure` instead of writing a dataset of identical error rows
    that a resume would then treat as done. Needs at least ``minimum`` architectures to decide.
    """

    def __init__(self, needed: int = 16, minimum: int = 4) -> None:
        self.needed, self.minimum = needed, minimum
        self.seen: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        self.decided = False
        self.failure: UniformFailure | None = None

    def add(self, table: pa.Table) -> None:
        if self.decided:
            return
        cols = [table.column(c).to_pylist() for c in ("estimator", "status", "error")]
        for est, status, error in zip(*cols):
            if status != STATUS_INVALID and len(self.seen[est]) < self.needed:
                self.seen[est].append((status, error))
        # decided once every estimator either has enough rows or has shown one that is not an
        # error (which rules out a failure shared by every architecture)
        if self.seen and all(len(v) >= self.needed or any(st != STATUS_ERROR for st, _ in v)
                             for v in self.seen.values()):
            self.decide()

    def decide(self) -> None:
        """Raise :class:`UniformFailure` if the evidence so far shows a shared failure (every call)."""
        if not self.decided:
            self.decided = True
            for est, seen in sorted(self.seen.items()):
                messages = {error for status, error in seen if status == STATUS_ERROR}
                if len(seen) >= self.minimum and all(s == STATUS_ERROR for s, _ in seen) and len(messages) == 1:
                    self.failure = UniformFailure(
                        f"estimator {est!r} failed on every one of the first {len(seen)} architectures with the "
                        f"same error, so the run's set-up is at fault and nothing was written: {messages.pop()}")
                    break
        if self.failure is not None:
            raise self.failure
