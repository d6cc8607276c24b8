"""Answers shared by the pieces of work done in one transaction.

When the engine escalates many incidents in one unit, each would ask the database
the same kind of question again (who is on call on this schedule now, what are
this person's rules, which pages exist already): a job asks them for the whole
batch at once, puts the answers here, and the functions that would have asked
look here first (`remembered`). Outside such a block nothing is remembered and
every call asks the database, as before.

Only answers the work itself does not change belong here, or ones the code that
changes them keeps true (`Memo.forget`, `Memo.put`). The memo lives for one block
(one transaction): a failed unit's answers go with its rollback.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Hashable, Iterable, Iterator, TypeVar

T = TypeVar("T")
_MISSING = object()


class Memo:
    def __init__(self) -> None:
        self._values: dict[Hashable, object] = {}
        self._kept: list = []

    def keep(self, objects) -> None:
        """Hold loaded rows for the block: the session's identity map holds them
        only weakly, and `session.get` finds them there without a query only while
        someone does."""
        self._kept.extend(objects)

    def get(self, key: Hashable, default=None):
        return self._values.get(key, default)

    def has(self, key: Hashable) -> bool:
        return key in self._values

    def put(self, key: Hashable, value) -> None:
        self._values[key] = value

    def forget(self, key: Hashable) -> None:
        self._values.pop(key, None)


_current: ContextVar[Memo | None] = ContextVar("firebreak_memo", default=None)


def current() -> Memo | None:
    return _current.get()


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, asked once per key within a `sharing` block; every time outside one."""
    memo = _current.get()
    if memo is None:
        return compute()
    value = memo.get(key, _MISSING)
    if value is _MISSING:
        value = compute()
        memo.put(key, value)
    return value


def missing(ids, key: Callable[[Hashable], Hashable]) -> list:
    """Those of `ids` whose `key(id)` a `sharing` block does not hold yet, sorted
    (none outside a block: there is nowhere to put their answers)."""
    memo = _current.get()
    return sorted({i for i in ids if i is not None and memo is not None and not memo.has(key(i))})


def remember_lists(kind: str, ids, load: Callable[[list], Iterable], owner: Callable[[object], Hashable]) -> list:
    """Within a `sharing` block: for each id not yet remembered under `kind`, the
    list of rows `load(ids)` gives for it (`owner(row)` says whose a row is), asked
    in one go and put under `(kind, id)`. Returns the ids asked for."""
    wanted = missing(ids, lambda i: (kind, i))
    if not wanted:
        return []
    memo = _current.get()
    found: dict = {i: [] for i in wanted}
    for row in load(wanted):
        found[owner(row)].append(row)
    for ident, rows in found.items():
        memo.put((kind, ident), rows)
    return wanted


def keep(objects) -> None:
    memo = _current.get()
    if memo is not None:
        memo.keep(objects)


def forget(key: Hashable) -> None:
    memo = _current.get()
    if memo is not None:
        memo.forget(key)


@contextmanager
def sharing() -> Iterator[Memo]:
    """A block whose lookups are remembered (nested blocks share the outer memo)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    memo = Memo()
    token = _current.set(memo)
    try:
        yield memo
    finally:
        _current.reset(token)
