"""The one bounded cache of the binding: a dict that forgets everything when
it is full.

The wrappers cache small per-argument objects (ctypes views of extents,
pointer objects, partition layouts, loss options, model input plans) so that
a repeated call skips rebuilding them. Emptying a full cache, rather than
evicting one entry, keeps a hit to one ``dict.get`` (C speed, atomic under
the GIL) and the bound exact; a workload that cycles through more keys than
the limit only rebuilds.
"""
from __future__ import annotations

from typing import Any, Hashable


class BoundedCache(dict):
    """A dict of at most `limit` entries. Read with ``get`` (or ``cache[key]``);
    write with :meth:`put` only, which clears a full cache first."""

    __slots__ = ("limit",)

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def put(self, key: Hashable, value: Any) -> Any:
        """Stores and returns `value`."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
