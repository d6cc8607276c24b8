"""Counting what a run left behind: events in the database, pages in the outbox and
at the fake providers. Shared by the load run and the fault scenarios.

A page's journey: an outbox row is claimed (`sending`), the provider is called, the
result recorded (`sent`, with the provider's id: Twilio's sid, the email's
Message-ID). Each request the fake providers accepted is a line in their log with
that id. So:
  * an accepted request whose id no row recorded was a send whose result was never
    written (the sender died, or the database refused the write): the row was sent
    again later, so it counts as a duplicate (at-least-once delivery);
  * a row due and still `queued`/`sending` after the drain is a page not sent.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime

from load.stack import Stack

SENT = ("sent", "delivered")


def to_epoch(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def db_time(stack: Stack, moment: datetime):
    """A moment as the database compares it (naive UTC; SQLite stores text)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds") if stack.backend == "sqlite" else naive


def due_now(stack: Stack) -> dict[str, int]:
    now = db_time(stack, datetime.now(UTC))
    return {
        "pages": stack.one("SELECT count(*) FROM notifications WHERE status IN ('queued', 'sending') "
                           "AND next_attempt_at <= :now", now=now),
        "escalations": stack.one("SELECT count(*) FROM incidents WHERE next_escalation_at <= :now", now=now),
    }


def drain(stack: Stack, seconds: float) -> float:
    """Wait until the engine has done everything due (or `seconds` pass); how long it took."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if not any(due_now(stack).values()):
            break
        time.sleep(1)
    return time.monotonic() - began


def events_in_database(stack: Stack, client: str = "load") -> dict[str, int]:
    where = "FROM alerts WHERE client = :client"
    return {
        "alerts": stack.one(f"SELECT count(*) {where}", client=client),
        "occurrences": stack.one(f"SELECT coalesce(sum(occurrences), 0) {where}", client=client),
        "incidents": stack.one(f"SELECT count(DISTINCT incident_id) {where}", client=client),
        "resolved": stack.one(f"SELECT count(*) {where} AND status = 'resolved'", client=client),
        "alerts_without_incident": stack.one(
            f"SELECT count(*) {where} AND incident_id IS NULL AND suppressed IS NULL AND severity != 'info'",
            client=client),
        "open_per_key": stack.one(
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM alerts WHERE client = :client "
            "AND status != 'resolved' GROUP BY service_id, dedup_key) AS keys", client=client),
    }


def provider_requests(stack: Stack) -> list[dict]:
    """Every request a fake provider accepted: SMS and calls (201) and emails."""
    accepted = [r for r in stack.fake_records("twilio") if r["kind"] in ("sms", "call") and r["status"] == 201]
    return accepted + stack.fake_records("smtp")


def pages(stack: Stack, incidents_since: datetime | None = None) -> dict:
    """The outbox against the providers' records: sent, held back, duplicates, and how
    long after its incident opened each incident's first page reached a provider."""
    now = db_time(stack, datetime.now(UTC))
    rows = stack.rows(
        "SELECT n.id, n.incident_id, n.channel, n.status, n.provider_id, n.held_until, n.bundled_into_id, "
        "i.created_at FROM notifications n LEFT JOIN incidents i ON i.id = n.incident_id "
        "WHERE n.purpose IN ('page', 'assist')")
    recorded = {pid[:64] for (pid,) in stack.rows("SELECT provider_id FROM notifications WHERE provider_id IS NOT NULL")}
    requests = provider_requests(stack)
    at = {}
    for record in requests:
        at.setdefault(str(record["sid"])[:64], record["t"])
    orphans = [r for r in requests if str(r["sid"])[:64] not in recorded]
    unknown = stack.rows("SELECT provider_id FROM notifications WHERE status IN ('sent', 'delivered') "
                         "AND provider_id IS NOT NULL AND bundled_into_id IS NULL AND provider != 'console'")
    sent_unknown = [pid for (pid,) in unknown if pid[:64] not in at]
    by_id = {row[0]: row for row in rows}
    first: dict[int, tuple[float, bool]] = {}
    for ident, incident_id, channel, status, provider_id, held, bundled_into, opened in rows:
        if status not in SENT or incident_id is None:
            continue
        carrier = by_id.get(bundled_into) if bundled_into else by_id[ident]
        if carrier is None or carrier[4] is None or carrier[4][:64] not in at:
            continue
        reached = at[carrier[4][:64]]
        was_held = held is not None or carrier[5] is not None
        if incident_id not in first or reached < first[incident_id][2]:
            first[incident_id] = (reached - to_epoch(opened), was_held, reached, channel)
    since = incidents_since.timestamp() if incidents_since else None
    counted = {i: v for i, v in first.items() if not v[1] and (since is None or v[2] >= since)}
    delays = sorted(v[0] for v in counted.values())
    slowest = sorted(((round(v[0], 2), i, v[3]) for i, v in counted.items()), reverse=True)[:5]
    due_unsent = stack.one("SELECT count(*) FROM notifications WHERE status IN ('queued', 'sending') "
                           "AND next_attempt_at <= :now", now=now)

    def pct(p):
        return delays[min(len(delays) - 1, int(len(delays) * p / 100))] if delays else float("nan")

    return {
        "rows": len(rows),
        "rows_sent": sum(1 for r in rows if r[3] in SENT),
        "bundled": sum(1 for r in rows if r[3] in SENT and r[6] is not None),
        "held_back": sum(1 for r in rows if r[5] is not None),
        "queued": sum(1 for r in rows if r[3] == "queued"),
        "failed": sum(1 for r in rows if r[3] == "failed"),
        "cancelled": sum(1 for r in rows if r[3] == "cancelled"),
        "due_unsent": due_unsent,
        "provider_requests": len(requests),
        "duplicates": len(orphans),
        "sent_unknown_to_provider": len(sent_unknown),
        "orphans": orphans[:20],
        "incidents_paged": len(delays),
        "incidents_first_page_held": sum(1 for v in first.values() if v[1]),
        "slowest_first_pages": slowest,  # (seconds, incident id, channel)
        "first_page_p50_s": pct(50), "first_page_p99_s": pct(99),
        "first_page_max_s": delays[-1] if delays else float("nan"),
    }


def sender_events(stack: Stack, events) -> dict:
    """The sender's events against the alerts: every accepted event is there, and how
    many were delivered more than once (an answer lost after the commit; the retry
    folded into the alert by its dedup key)."""
    occurrences = dict(stack.rows("SELECT dedup_key, sum(occurrences) FROM alerts WHERE client = 'fault-sender' "
                                  "GROUP BY dedup_key"))
    lost = [e.key for e in events if e.settled and not occurrences.get(e.key)]
    short = [e.key for e in events if 0 < occurrences.get(e.key, 0) < e.accepted]
    twice = sum(max(0, occurrences.get(e.key, 0) - e.accepted) for e in events)
    unanswered = [e.key for e in events if not e.settled]
    return {"events": len(events), "accepted": sum(1 for e in events if e.settled), "lost": len(lost),
            "lost_keys": lost[:10], "folds_missing": len(short), "delivered_twice": twice,
            "never_accepted": len(unanswered), "never_accepted_in_database": sum(
                1 for key in unanswered if occurrences.get(key))}
