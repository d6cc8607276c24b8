"""NUL characters (U+0000). PostgreSQL stores none, in text or in jsonb, and fails
the whole statement when given one; SQLite keeps them. So none gets as far as the
database, on either: requests with one in the path, the query or a form are refused
(app.web), the JSON API refuses a body with one, and ingestion, which must not lose
an alert over it, replaces each with U+FFFD.

JSON can only carry a NUL as the escape \\u0000 (a raw control character is not
valid JSON), so a body without that text needs no walk: the common case costs one
substring search.
"""
from __future__ import annotations

from typing import Any

NUL = "\x00"
REPLACEMENT = "\ufffd"
ESCAPE = "\\u0000"


def might_hold_nul(raw: str) -> bool:
    """Whether decoded JSON from `raw` may contain a NUL (cheap; may say yes wrongly)."""
    return ESCAPE in raw


def has_nul(value: Any) -> bool:
    """Whether any string or key in a decoded JSON value holds a NUL (iterative:
    as deep as the decoder allows)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def replace_nul(value: Any) -> Any:
    """A copy of a decoded JSON value with every NUL in its strings and keys
    replaced by U+FFFD (iterative, so as deep as the decoder allows)."""
    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return item.replace(NUL, REPLACEMENT)
        if isinstance(item, dict):
            return {}
        if isinstance(item, list):
            return []
        return item

    root = clean(value)
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                copy = clean(item)
                target[clean(key)] = copy
                if isinstance(item, (dict, list)):
                    stack.append((item, copy))
        elif isinstance(source, list):
            for item in source:
                copy = clean(item)
                target.append(copy)
                if isinstance(item, (dict, list)):
                    stack.append((item, copy))
    return root
