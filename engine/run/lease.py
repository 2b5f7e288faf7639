"""One writer per output location: a lease file, renewed by a heartbeat, checked before commits.

``OUT/_lease.json`` names its holder (host, pid, command, a random token) and when it was last
renewed. A second writer is refused with an error that names the holder. A lease is *stale*,
and is taken over with a warning, when its holder ran on this host and that process is gone
(a SIGKILLed driver: the rerun proceeds at once), or when it was not renewed for ``ttl_s``
(a holder on another host that died); ``takeover=True`` takes any lease.

On a local disk the lease is created with ``O_EXCL``, so of two writers starting together exactly
one wins. Object stores have no exclusive create; there the lease is written and read back
after a moment. In both cases the holder reads the lease before every commit (:meth:`Lease.check`)
and its heartbeat notices a takeover, so a writer that lost its lease stops before committing
again; and readers keep one copy of each batch even if two writers ever committed it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from archscore.engine.run.errors import LeaseHeld, LeaseLost

log = logging.getLogger(__name__)

LEASE_FILE = "_lease.json"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Lease:
    """Exclusive write access to a :class:`~archscore.engine.run.sink.Store` location."""

    def __init__(self, store: Any, ttl_s: float = 60.0, renew_s: float = 10.0, takeover: bool = False,
                 settle_s: float = 0.5) -> None:
        self.store = store
        self.ttl_s, self.renew_s, self.takeover, self.settle_s = ttl_s, renew_s, takeover, settle_s
        self.token = uuid.uuid4().hex
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.time()

    # -- the record -------------------------------------------------------------------------------
    def _record(self) -> bytes:
        return json.dumps({"token": self.token, "host": socket.gethostname(), "pid": os.getpid(),
                           "command": " ".join(sys.argv)[:500], "started": self.started,
                           "renewed": time.time(), "ttl_s": self.ttl_s}).encode()

    def _read(self) -> dict[str, Any] | None:
        raw = self.store.read(LEASE_FILE)
        if raw is None:
            return None
        try:
            holder = json.loads(raw)
            return holder if isinstance(holder, dict) and "token" in holder else {"token": "?", "corrupt": True}
        except ValueError:  # a torn write of a crashed holder: treat as stale
            return {"token": "?", "corrupt": True}

    def _stale_reason(self, holder: dict[str, Any]) -> str | None:
        if holder.get("corrupt"):
            return "the lease file is unreadable"
        age = time.time() - float(holder.get("renewed", 0))
        if holder.get("host") == socket.gethostname() and not _process_alive(int(holder.get("pid", -1))):
            return f"its process {holder.get('pid')} on this host is gone"
        if age > float(holder.get("ttl_s", self.ttl_s)):
            return f"it was last renewed {age:.0f}s ago (ttl {holder.get('ttl_s', self.ttl_s):.0f}s)"
        return None

    def describe(self, holder: dict[str, Any]) -> str:
        started = datetime.fromtimestamp(float(holder.get("started", 0)), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        age = time.time() - float(holder.get("renewed", 0))
        expires = float(holder.get("ttl_s", self.ttl_s)) - age
        return (f"pid {holder.get('pid')} on host {holder.get('host')} ({holder.get('command', '?')!r}), "
                f"started {started}, renewed {age:.0f}s ago; its lease expires in {max(expires, 0):.0f}s "
                "unless renewed")

    # -- acquire, check, release ------------------------------------------------------------------
    def precheck(self) -> None:
        """Read-only: raise :class:`LeaseHeld` now if another writer's live lease would refuse
        :meth:`acquire` (so a busy location is reported before Ray starts); takes nothing."""
        holder = self._read()
        if holder is not None:
            self._refuse_if_live(holder)

    def acquire(self) -> "Lease":
        """Take the lease or raise :class:`LeaseHeld` naming the holder; starts the heartbeat."""
        if self.store.local:
            if not self._create_exclusive():
                self._take_from(self._read())
                time.sleep(self.settle_s)  # two takers of a stale lease: the last write wins
                self._verify()
        else:
            holder = self._read()
            if holder is not None:
                self._take_from(holder)
            else:
                self.store.write(LEASE_FILE, self._record())
            time.sleep(self.settle_s)  # a writer that raced us has written by now: the last one wins
            self._verify()
        self._thread = threading.Thread(target=self._heartbeat, name="archscore-lease", daemon=True)
        self._thread.start()
        return self

    def _create_exclusive(self) -> bool:
        """Create the lease file with its content in one step (a hard link of a written temp
        file), so nobody ever reads it empty. False if it exists."""
        path = self.store.path(LEASE_FILE)
        tmp = f"{path}.{self.token}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(self._record())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _refuse_if_live(self, holder: dict[str, Any]) -> str | None:
        """Raise :class:`LeaseHeld` if ``holder`` (another writer's record) is alive and this is
        no takeover; else the reason it may be taken (None with --takeover on a live one)."""
        reason = self._stale_reason(holder)
        if reason is None and not self.takeover:
            raise LeaseHeld(
                f"{self.store.uri} is being written by another archscore process: {self.describe(holder)}. "
                "Two writers would duplicate work; wait for it to finish, or use another --out. If that "
                "process is gone, rerun once its lease expires, or pass --takeover (Python: "
                "SweepConfig(takeover=True)) to take the location over now.")
        return reason

    def _take_from(self, holder: dict[str, Any] | None) -> None:
        if holder is not None and holder.get("token") != self.token:
            reason = self._refuse_if_live(holder)
            log.warning("%s: taking over the lease of %s (%s)", self.store.uri,
                        f"pid {holder.get('pid')} on {holder.get('host')}",
                        reason or "--takeover was given")
        self.store.write(LEASE_FILE, self._record())

    def _verify(self) -> None:
        holder = self._read()
        if holder is None or holder.get("token") != self.token:
            who = self.describe(holder) if holder and not holder.get("corrupt") else "unknown"
            raise LeaseHeld(f"{self.store.uri}: another writer took the lease at the same moment ({who})")

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this writer still holds the lease (call before a commit)."""
        if self.lost is None:
            holder = self._read()
            if holder is None or holder.get("token") != self.token:
                self.lost = (f"the lease on {self.store.uri} was taken over by "
                             f"{self.describe(holder) if holder and not holder.get('corrupt') else 'another writer'}")
        if self.lost is not None:
            raise LeaseLost(f"{self.lost}; stopped before committing more rows (the rows committed so far stay)")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_s):
            try:
                holder = self._read()
                if holder is None or holder.get("token") != self.token:
                    self.lost = f"the lease on {self.store.uri} was taken over"
                    log.error("%s; this run will stop before its next commit", self.lost)
                    return
                self.store.write(LEASE_FILE, self._record())
            except OSError as exc:  # a transient store error: try again at the next beat
                log.warning("renewing the lease on %s failed: %s", self.store.uri, exc)

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = self._read()
        if holder is not None and holder.get("token") == self.token:
            self.store.delete(LEASE_FILE)

    def __enter__(self) -> "Lease":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
