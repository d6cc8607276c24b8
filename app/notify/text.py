"""Message text: short, GSM-7 safe SMS; what the call says; the email.

Pure functions of plain values, so every wording is tested without a provider.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from app.triage import levels

# GSM 03.38: the basic set, plus the extension set (which costs two characters).
_GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                 "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€")
_REPLACEMENTS = {"—": "-", "–": "-", "‒": "-", "·": "-", "•": "-", "…": "...", "‘": "'", "’": "'", "‚": "'",
                 "“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "\t": " ", "×": "x", "→": "->", "≥": ">=",
                 "≤": "<=", "\u00a0": " "}
SMS_SEGMENT = 160
SMS_MAX = 1600  # the longest body Twilio takes (10 segments); longer is refused (error 21617)


def gsm7(text: str) -> str:
    """Text every phone shows as written, in one encoding: accents the set lacks are
    dropped (é is kept, ł becomes l), punctuation is made plain, the rest becomes ?."""
    out = []
    for char in text:
        char = _REPLACEMENTS.get(char, char)
        if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in char):
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and all(c in _GSM_BASIC for c in plain) else "?")
    return "".join(out)


def sms_length(text: str) -> int:
    return sum(2 if c in _GSM_EXTENDED else 1 for c in text)


@dataclass(frozen=True)
class PageFacts:
    """What a page says about one incident."""

    number: int
    severity: int
    service: str
    title: str
    url: str


def reply_codes(number: int) -> str:
    return f"Reply {number}A ack, {number}R resolve, {number}E escalate"


def _fit(title: str, room: int) -> str:
    title = " ".join(title.split())
    if len(title) <= room:
        return title
    return title[: max(room - 3, 10)].rstrip() + "..."


def page_sms(facts: PageFacts) -> str:
    """`[SEV-2 #42] checkout-api: HTTP 5xx 7.2% - Reply 42A ack, 42R resolve, 42E escalate <url>`,
    the title cut so the whole fits one SMS where the link allows."""
    head = f"[{levels.name(facts.severity)} #{facts.number}] {gsm7(facts.service)}: "
    tail = f" - {reply_codes(facts.number)} {facts.url}"
    room = max(SMS_SEGMENT - sms_length(head) - sms_length(tail), 40)
    return head + _fit(gsm7(facts.title), room) + tail


def bundle_sms(pages: list[PageFacts], base_url: str) -> str:
    """Several pages in one SMS, most severe first; a bare A acts on all of them.

    As many as fit in what Twilio takes (SMS_MAX) are listed; the rest are counted
    ("... and 12 more") and are on the incident list the link opens."""
    pages = sorted(pages, key=lambda p: (p.severity, p.number))
    listed = pages[:1]
    for count in range(2, len(pages) + 1):
        if sms_length(_bundle_text(pages, count, base_url)) > SMS_MAX:
            break
        listed = pages[:count]
    return _bundle_text(pages, len(listed), base_url)


def _bundle_text(pages: list[PageFacts], listed: int, base_url: str) -> str:
    lines = [f"[{len(pages)} pages]"]
    for facts in pages[:listed]:
        lines.append(f"#{facts.number} {levels.name(facts.severity)} {gsm7(facts.service)}: {_fit(gsm7(facts.title), 60)}")
    if listed < len(pages):
        lines.append(f"... and {len(pages) - listed} more")
    numbers = [str(p.number) for p in pages[:listed]]
    first = numbers[0]
    likewise = f" (likewise {', '.join(numbers[1:])})" if len(numbers) > 1 else ""
    lines.append(f"Reply {first}A ack, {first}R resolve, {first}E escalate{likewise}; A acks all. {base_url}/incidents/")
    return "\n".join(lines)


def page_speech(facts: PageFacts) -> str:
    """What the call says: spelled for a speech engine (no symbols, no brackets)."""
    service = facts.service.replace("-", " ").replace("_", " ")
    title = " ".join(facts.title.replace("%", " percent").split())
    return (f"This is Firebreak. Severity {facts.severity} incident {facts.number} on {service}. {title}.")


CALL_MENU = "Press 1 to acknowledge, 2 to resolve, 3 to escalate, or star to hear this again."


def page_email(facts: PageFacts) -> tuple[str, str]:
    subject = f"[{levels.name(facts.severity)} #{facts.number}] {facts.service}: {_fit(facts.title, 150)}"
    body = (f"{levels.name(facts.severity)} incident #{facts.number} on {facts.service}\n\n{facts.title}\n\n"
            f"Open it to acknowledge or resolve: {facts.url}\n\n"
            f"By SMS: {reply_codes(facts.number)}.\n\n-- Firebreak\n")
    return subject, body


def help_sms() -> str:
    return ("Firebreak pages: reply 42A to acknowledge #42, 42R to resolve, 42E to escalate; "
            "a bare A, R or E acts on your last page. STOP ends SMS pages, START resumes.")
