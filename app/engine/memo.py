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

Each kind of answer has a key type of its own, a frozen dataclass subclassing `Key`,
defined by the module that reads it (so two modules' keys never meet, and what a
key holds is named). `disabled()` turns the memo off, as a test does to check that a
batch writes the same with and without it.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True)
class Key:
    """The base of every memo key: subclass it as a frozen dataclass naming what the
    answer is about (e.g. `RulesOf(user_id, urgency)`)."""


class Memo:
    def __init__(self) -> None:
        self._values: dict[Key, object] = {}
        self._kept: list = []

    def keep(self, objects) -> None:
        """Hold loaded rows for the block: the session's identity map holds them
        only weakly, and `session.get` finds them there without a query only while
        someone does."""
        self._kept.extend(objects)

    def get(self, key: Key, default=None):
        return self._values.get(key, default)

    def has(self, key: Key) -> bool:
        return key in self._values

    def put(self, key: Key, value) -> None:
        if not isinstance(key, Key):
            raise TypeError(f"memo keys are memo.Key dataclasses, not {type(key).__name__}")
        self._values[key] = value

    def forget(self, key: Key) -> None:
        self._values.pop(key, None)


_current: ContextVar[Memo | None] = ContextVar("firebreak_memo", default=None)
_disabled: ContextVar[bool] = ContextVar("firebreak_memo_disabled", default=False)


def current() -> Memo | None:
    return _current.get()


def remembered(key: Key, compute: Callable[[], T]) -> T:
    """`compute()`, asked once per key within a `sharing` block; every time outside one."""
    memo = _current.get()
    if memo is None:
        return compute()
    value = memo.get(key, _MISSING)
    if value is _MISSING:
        value = compute()
        memo.put(key, value)
    return value


def missing(ids, key: Callable[[object], Key]) -> list:
    """Those of `ids` whose `key(id)` a `sharing` block does not hold yet, sorted
    (none outside a block: there is nowhere to put their answers)."""
    memo = _current.get()
    return sorted({i for i in ids if i is not None and memo is not None and not memo.has(key(i))})


def remember_lists(key: Callable[[object], Key], ids, load: Callable[[list], Iterable],
                   owner: Callable[[object], object]) -> list:
    """Within a `sharing` block: for each id not yet remembered under `key(id)`, the
    list of rows `load(ids)` gives for it (`owner(row)` says whose a row is), asked
    in one go. Returns the ids asked for."""
    wanted = missing(ids, key)
    if not wanted:
        return []
    memo = _current.get()
    found: dict = {i: [] for i in wanted}
    for row in load(wanted):
        found[owner(row)].append(row)
    for ident, rows in found.items():
        memo.put(key(ident), rows)
    return wanted


def keep(objects) -> None:
    memo = _current.get()
    if memo is not None:
        memo.keep(objects)


def forget(key: Key) -> None:
    memo = _current.get()
    if memo is not None:
        memo.forget(key)


@contextmanager
def sharing() -> Iterator[Memo | None]:
    """A block whose lookups are remembered (nested blocks share the outer memo);
    within `disabled()`, a block like any other (None)."""
    outer = _current.get()
    if outer is not None or _disabled.get():
        yield outer
        return
    memo = Memo()
    token = _current.set(memo)
    try:
        yield memo
    finally:
        _current.reset(token)


@contextmanager
def disabled() -> Iterator[None]:
    """Nothing is remembered within: every lookup asks the database, as outside a
    `sharing` block (for tests comparing what work writes with and without it)."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)
