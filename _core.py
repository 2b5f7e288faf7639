"""The bottom module: what every room (spaces, estimators, engine) shares.

It imports nothing of archscore and nothing beyond the standard library, so any module may
import it without creating a circle: the extension registry, the package version, whole-file
atomic writes and file digests.
"""
from __future__ import annotations

import difflib
import hashlib
import os
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import Callable, Generic, Iterator, TypeVar

try:
    VERSION = version("archscore")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"

T = TypeVar("T")


class UsageProblem(Exception):
    """A name or setting the user typed that does not exist: the command line reports it as a
    usage error (exit 2), before anything starts."""


class UnknownName(UsageProblem, KeyError):
    """No registered entry of that name (a space, an estimator, a predictor, ...)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownSetting(UsageProblem, ValueError):
    """An option or setting the named thing does not take (a macro field, an estimator option)."""


class Registry(Generic[T]):
    """Maps names to entries of one extension kind (spaces, estimators, predictors, ...).

    Keeping the name next to the code (``@SPACES.register("nb201")``) means name and
    implementation cannot drift apart; a second entry under a taken name is refused.

    >>> r = Registry("widget")
    >>> @r.register("a")
    ... class A: ...
    >>> r.get("a") is A
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under ``name``.

        Raises:
            ValueError: ``name`` is empty, not lower-case snake case, or already taken.
        """
        if not name or not name.replace("_", "").isalnum() or name.lower() != name:
            raise ValueError(f"{self.kind} name {name!r} must be non-empty lower-case snake case")

        def decorate(entry: T) -> T:
            if name in self._entries:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered by {self._entries[name]!r}; "
                    "pick another name")
            self._entries[name] = entry
            setattr(entry, "name", name)
            return entry

        return decorate

    def unregister(self, name: str) -> None:
        """Drop ``name`` (for tests that register a throw-away entry)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            UnknownName: (a ``KeyError``) no such entry; the message lists close names and all known names.
        """
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownName(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to the local ``path`` through a temp file beside it, fsync and a rename, so
    a crash leaves the old file or the new one, never half of one. Permissions follow the umask."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(directory or ".")


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes: how a run records which file (checkpoint, input) it used."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
