"""Docker's .dockerignore rules, so a test can tell what a build context holds
without a container engine (tests/test_image.py).

A faithful port of moby/patternmatcher, which the classic builder and BuildKit both
use: `ignorefile.ReadAll` (comments, trimming, a leading slash dropped), `New` and
`MatchesOrParentMatches` (each pattern in turn, `!` patterns taking back what an
earlier one took, a path also taken when one of its parent folders is), and
`Pattern.compile`/`match` (exact, prefix for `dir/**`, suffix for `**/name`, or a
regular expression: `*` and `?` within one path element, `**` across them). Linux
paths only. tests/test_image.py runs moby's own table of cases against it.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

_ESCAPED = set(".+()|{}$")  # regexp specials that mean nothing in a filepath pattern


def clean(path: str) -> str:
    """Go's filepath.Clean on a slash-separated path."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[str]:
    """ignorefile.ReadAll: the patterns of a .dockerignore file, in order."""
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if invert else line)
    return patterns


@dataclass
class Pattern:
    text: str
    exclusion: bool
    kind: str = field(init=False)  # exact, prefix, suffix or regexp
    regexp: re.Pattern | None = field(init=False, default=None)

    def __post_init__(self):
        self.kind, self.regexp = _compile(self.text)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regexp.match(path) is not None


def _compile(pattern: str) -> tuple[str, re.Pattern | None]:
    """Pattern.compile: how the pattern matches, and its regular expression if it needs one."""
    expression, kind, at, step = "^", "exact", 0, 0
    while at < len(pattern):
        char = pattern[at]
        at += 1
        if char == "*":
            if pattern[at:at + 1] == "*":
                at += 1
                if pattern[at:at + 1] == "/":
                    at += 1
                if at == len(pattern):  # "**" at the end: everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        expression += ".*"
                        kind = "regexp"
                else:  # "**" before more: any number of path elements, even none
                    expression += "(.*/)?"
                    kind = "regexp"
                if step == 0:
                    kind = "suffix"
            else:
                expression += "[^/]*"
                kind = "regexp"
        elif char == "?":
            expression += "[^/]"
            kind = "regexp"
        elif char in _ESCAPED:
            expression += "\\" + char
        elif char == "\\":
            if at < len(pattern):
                expression += "\\" + pattern[at]
                at += 1
                kind = "regexp"
            else:
                expression += "\\\\"
        elif char in "[]":
            expression += char
            kind = "regexp"
        else:
            expression += char
        step += 1
    return kind, re.compile(expression + r"\Z") if kind == "regexp" else None


class Matcher:
    """patternmatcher.New and MatchesOrParentMatches."""

    def __init__(self, patterns: list[str]):
        self.patterns = []
        for text in patterns:
            text = text.strip()
            if not text:
                continue
            text = clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise ValueError('illegal exclusion pattern: "!"')
                text = text[1:]
            self.patterns.append(Pattern(text, exclusion))

    def matches(self, path: str) -> bool:
        """Whether `path` (slash-separated, relative to the context) is left out."""
        matched = False
        parent = clean(posixpath.dirname(path))
        parents = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:  # nothing this pattern could change
                continue
            match = pattern.match(path)
            if not match and parent != ".":
                match = any(pattern.match("/".join(parents[:n + 1])) for n in range(len(parents)))
            if match:
                matched = not pattern.exclusion
        return matched

    def excludes(self, path: str) -> bool:
        """The package-level MatchesOrParentMatches: the path cleaned first, and the
        context's root never left out."""
        path = clean(path)
        return path != "." and self.matches(path)
