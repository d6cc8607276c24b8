"""Message text: short, GSM-7 safe SMS; what the call says; the email.

Pure functions of plain values, so every wording is tested without a provider.
"""
from __future__ import annotations

import re
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
    """What a page says about one incident: `url` is the incident page (the email
    carries it), `link` the short one an SMS has room for (PUBLIC_BASE_URL/i/42)."""

    number: int
    severity: int
    service: str
    title: str
    url: str
    link: str = ""


def reply_codes(number: int) -> str:
    return f"Reply {number}A ack, {number}R resolve, {number}E escalate"


def _fit(title: str, room: int) -> str:
    title = " ".join(title.split())
    if len(title) <= room:
        return title
    return title[: max(room - 3, 10)].rstrip() + "..."


# What may follow a service name that starts a summary ("payments-api: HTTP 5xx").
_AFTER_SERVICE = re.compile(r"\s*[:|]\s*|\s+-+\s+|\s+|$")


def without_service(title: str, service: str) -> str:
    """The title without the service name it starts with, if it does (case aside,
    followed by `:`, `|`, ` - `, a space or nothing): the page names the service already."""
    title, service = " ".join(title.split()), " ".join(service.split())
    if not service or title[: len(service)].lower() != service.lower():
        return title
    after = _AFTER_SERVICE.match(title, len(service))
    return title[after.end():] if after else title


def _cut(text: str, room: int) -> str:
    """`text` in at most `room` septets, cut with "..." (GSM-7 has no ellipsis)."""
    if sms_length(text) <= room:
        return text
    kept, used = [], 3
    for char in text:
        used += sms_length(char)
        if used > room:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "..."


# When service and summary do not both fit, the service gives way first, down to
# SERVICE_MIN septets, so that the summary keeps up to SUMMARY_MIN. Both fit the room a
# 40-character https host and a 6-digit incident number leave (31 septets: [ and ] cost two).
SERVICE_MIN = 9
SUMMARY_MIN = 20


def _service_and_summary(service: str, summary: str, room: int) -> str:
    if not summary:
        return _cut(service, max(room, SERVICE_MIN))
    if sms_length(service) + 2 + sms_length(summary) <= room:
        return f"{service}: {summary}"
    service = _cut(service, max(room - 2 - min(sms_length(summary), SUMMARY_MIN), SERVICE_MIN))
    return f"{service}: {_cut(summary, max(room - 2 - sms_length(service), SUMMARY_MIN))}"


def page_sms(facts: PageFacts) -> str:
    """One GSM-7 segment (160 septets), ending with the reply codes:

        [SEV-2 #42] checkout-api: HTTP 5xx 7.2% over 5m
        https://firebreak.example.com/i/42
        Reply 42A ack, 42R resolve, 42E escalate

    The summary does not repeat the service it starts with. What does not fit is cut
    with "...": a long service first (down to SERVICE_MIN septets, so that the summary
    keeps up to SUMMARY_MIN), then the summary. That fits any incident number up to six
    digits with a PUBLIC_BASE_URL of `https://` and a host of up to 40 characters; past
    that, service and summary keep their minimum and the SMS runs longer. Every
    character is GSM-7, so the SMS is never sent as UCS-2 (70 to a segment)."""
    head = gsm7(f"[{levels.name(facts.severity)} #{facts.number}] ")
    tail = gsm7(f"\n{facts.link or facts.url}\n{reply_codes(facts.number)}")
    service = " ".join(gsm7(facts.service).split())
    summary = without_service(gsm7(facts.title), service)
    room = SMS_SEGMENT - sms_length(head) - sms_length(tail)
    return head + _service_and_summary(service, summary, room) + tail


def bundle_sms(pages: list[PageFacts], list_url: str) -> str:
    """Several pages in one SMS, most severe first; a bare A acts on all of them.

    As many as fit in what Twilio takes (SMS_MAX) are listed; the rest are counted
    ("... and 12 more") and are on the incident list, `list_url`, which ends the SMS."""
    pages = sorted(pages, key=lambda p: (p.severity, p.number))
    listed = pages[:1]
    for count in range(2, len(pages) + 1):
        if sms_length(_bundle_text(pages, count, list_url)) > SMS_MAX:
            break
        listed = pages[:count]
    return _bundle_text(pages, len(listed), list_url)


def _bundle_text(pages: list[PageFacts], listed: int, list_url: str) -> str:
    lines = [f"[{len(pages)} pages]"]
    for facts in pages[:listed]:
        service = gsm7(facts.service)
        lines.append(f"#{facts.number} {gsm7(levels.name(facts.severity))} {service}: "
                     f"{_fit(without_service(gsm7(facts.title), service), 60)}")
    if listed < len(pages):
        lines.append(f"... and {len(pages) - listed} more")
    numbers = [str(p.number) for p in pages[:listed]]
    first = numbers[0]
    likewise = f" (likewise {', '.join(numbers[1:])})" if len(numbers) > 1 else ""
    lines.append(f"Reply {first}A ack, {first}R resolve, {first}E escalate{likewise}; A acks all. {list_url}")
    return "\n".join(lines)


def page_speech(facts: PageFacts) -> str:
    """What the call says: spelled for a speech engine (no symbols, no brackets)."""
    service = facts.service.replace("-", " ").replace("_", " ")
    title = " ".join(without_service(facts.title, facts.service).replace("%", " percent").split())
    title = f" {title}." if title else ""
    return f"This is Firebreak. Severity {facts.severity} incident {facts.number} on {service}.{title}"


CALL_MENU = "Press 1 to acknowledge, 2 to resolve, 3 to escalate, or star to hear this again."


def page_email(facts: PageFacts) -> tuple[str, str]:
    title = without_service(facts.title, facts.service)  # the subject names the service; the body keeps it all
    subject = f"[{levels.name(facts.severity)} #{facts.number}] {facts.service}"
    subject += f": {_fit(title, 150)}" if title else ""
    body = (f"{levels.name(facts.severity)} incident #{facts.number} on {facts.service}\n\n{facts.title}\n\n"
            f"Open it to acknowledge or resolve: {facts.url}\n\n"
            f"By SMS: {reply_codes(facts.number)}.\n\n-- Firebreak\n")
    return subject, body


def help_sms() -> str:
    return ("Firebreak pages: reply 42A to acknowledge #42, 42R to resolve, 42E to escalate; "
            "a bare A, R or E acts on your last page. STOP ends SMS pages, START resumes.")
