"""A browser's user agent in plain words ("Firefox on macOS"), for the sessions page.

Only the browser family and the operating system: enough for a person to recognise
their own devices, without a user-agent database to keep up to date. Order matters:
Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux", and an
iPad may claim to be a Mac.
"""
from __future__ import annotations

import re

BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\bChrom(e|ium)/|\bCriOS/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
    ("curl", re.compile(r"^curl/")),
)
SYSTEMS = (
    ("iOS", re.compile(r"\biPhone\b|\biPod\b")),
    ("iPadOS", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMacintosh\b|\bMac OS X\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


UNKNOWN = "Unknown device"


def describe(user_agent: str | None) -> str:
    """"Firefox on macOS", "Chrome on Android", "Safari", "Windows", or "Unknown device"."""
    text = user_agent or ""
    browser = next((name for name, pattern in BROWSERS if pattern.search(text)), None)
    system = next((name for name, pattern in SYSTEMS if pattern.search(text)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or UNKNOWN
