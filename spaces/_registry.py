"""A name -> entry registry filled by a decorator that refuses duplicates.

One registry exists per extension kind (spaces, estimators). Keeping the name next to the code
(``@SPACES.register("nb201")``) means name and implementation cannot drift apart.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries of one extension kind.

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

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises:
            KeyError: no such entry; the message lists close names and all known names.
        """
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
