"""Fault scenarios against the whole deployment (`make faults`; slow, outside `make test`).

Each scenario starts gunicorn, the engine (as its own process) and the fake providers
on a fresh database (load/stack.py), sends events the way monitoring does (every one
with its own dedup key, retried until accepted: load/sender.py), breaks something
while the work goes on, and then checks, with /healthz polled twice a second all the
while:
  * nothing accepted is lost: every event answered 202 is an alert, and an event
    delivered twice (its answer lost after the commit) folded into its alert;
  * no page is lost: after a drain nothing is due and unsent, none gave up;
  * none is sent twice beyond at-least-once: provider requests that no outbox row
    recorded are counted, and bounded by what the fault allows (a sender killed
    between the provider's answer and the record of it: one per kill);
  * the engine's lease recovers within its lease period (plus a cycle and slack for
    process start-up on a shared machine);
  * /healthz tells the truth throughout: 503 while no engine runs, the database cannot
    be reached or its disk is full, 200 otherwise.

Settings: FAULT_LEASE_SECONDS (5), FAULT_RUN_SECONDS (120, the engine-kill run),
FAULT_OUTAGE_SECONDS (120, how long each provider is down), FAULT_EVENT_RATE (4/s),
FAULT_SEED, FAULTS_WORK (keep the runs' files), FAULTS_JSON (write the figures).
"""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench._harness import BIN, ROOT
from load.browsers import Browsers
from load.pages import drain, pages, sender_events, to_epoch
from load.sender import Sender
from load.stack import USER_AGENT, HealthSample, HealthWatch, Stack
from tests.fakes import wait_for

LEASE = float(os.environ.get("FAULT_LEASE_SECONDS", "5"))
INTERVAL = 0.5
STALE = 15.0
# Process start-up and scheduling on a small machine shared with other work.
SLACK = 3.0
RUN = float(os.environ.get("FAULT_RUN_SECONDS", "120"))
OUTAGE = float(os.environ.get("FAULT_OUTAGE_SECONDS", "120"))
RATE = float(os.environ.get("FAULT_EVENT_RATE", "4"))
SEED = int(os.environ.get("FAULT_SEED", "12"))
# /healthz calls an engine stopped once its lease expired more than this long ago.
STOPPED_AFTER = 2 * INTERVAL + 1
# Messages the engine sends at once (the stack sets no other): each send is recorded
# after the provider answers, so every send in flight when the engine or its database
# goes away may go again (at-least-once; docs/reliability.md).
IN_FLIGHT = int(os.environ.get("NOTIFY_CONCURRENCY") or 8)



def health_summary(samples: list[HealthSample]) -> dict:
    return {"samples": len(samples), "200": sum(1 for s in samples if s.status == 200),
            "503": sum(1 for s in samples if s.status == 503),
            "no answer": sum(1 for s in samples if s.status is None),
            "other": sum(1 for s in samples if s.status not in (200, 503, None))}


def wrong_health(samples, expect, start: float = 0.0, end: float = float("inf")) -> list[HealthSample]:
    """Samples in [start, end] whose answer is not `expect` (a status, or a predicate)."""
    check = expect if callable(expect) else (lambda s: s.status == expect)
    return [s for s in samples if start <= s.at <= end and not check(s)]


def recovery_of(stack: Stack, before: dict, killed_at: float) -> float:
    """Seconds from a kill until another engine held the lease (its acquired_at)."""
    taken = wait_for(lambda: (lease := stack.lease()) and lease["epoch"] > before["epoch"] and lease,
                     LEASE + INTERVAL + 30, "another engine to take the lease")
    return to_epoch(taken["acquired_at"]) - killed_at


def accepted_since(sender: Sender, moment: float) -> bool:
    with sender.lock:
        return any(at > moment and status == 202 for event in sender.events for at, status in event.attempts)


def kill_leader(stack: Stack) -> tuple[dict, float]:
    before = wait_for(stack.lease, 10, "a lease")
    leader = next((p for p in stack.engines if p.alive() and p.pid == before["pid"]), None)
    assert leader is not None, f"the lease holder {before['holder']} is none of our engines"
    killed_at = time.time()
    leader.kill()
    return before, killed_at


def settle_and_check_events(stack: Stack, sender: Sender, figures: dict, *, twice_allowed: int = 0) -> dict:
    sender.stop_sending()
    settled = sender.settle(120)
    sender.stop()
    found = sender_events(stack, sender.events)
    figures["events"] = {**sender.summary(), **found}
    assert settled, f"events never accepted: {found['never_accepted']}"
    assert found["lost"] == 0, f"accepted events missing: {found['lost_keys']}"
    assert found["folds_missing"] == 0
    assert found["delivered_twice"] <= twice_allowed
    return found


def check_pages(stack: Stack, figures: dict, *, duplicates_allowed: int, drain_seconds: float = 120) -> dict:
    figures["drain_seconds"] = round(drain(stack, drain_seconds), 1)
    found = pages(stack)
    figures["pages"] = {key: found[key] for key in (
        "rows", "rows_sent", "bundled", "held_back", "failed", "cancelled", "due_unsent", "provider_requests",
        "duplicates", "sent_unknown_to_provider")}
    figures["pages"]["duplicate_requests"] = [{k: r.get(k) for k in ("kind", "to", "t")} for r in found["orphans"]]
    assert found["due_unsent"] == 0, "pages due and not sent after the drain"
    assert found["failed"] == 0, "pages given up"
    assert found["sent_unknown_to_provider"] == 0, "rows marked sent that no provider took"
    assert found["duplicates"] <= duplicates_allowed, f"{found['duplicates']} pages sent twice"
    return found


def logs_clean(stack: Stack, figures: dict) -> None:
    text = "\n".join(stack.logs().values())
    bad = {"database is locked": text.count("database is locked"),
           "malformed": text.count("malformed"), "corrupt": text.count("corrupt"),
           "500 answers": text.count("unhandled error")}
    figures["logs"] = bad
    assert not any(bad.values()), bad


# --- the engine killed ------------------------------------------------------------------------

def test_the_engine_killed_at_random_during_escalations_and_handovers(work, figures):
    """Two engine processes (a leader and a standby, as several machines run them); the
    leader is SIGKILLed at random moments while incidents escalate by one-minute steps and
    the drill schedule changes hands every 20 s, and a new engine is started after each
    kill, as scripts/serve.sh restarts one. Then every engine is killed for a while."""
    stack = Stack(work, workers=4, lease=LEASE, interval=INTERVAL, stale=STALE, drill_seconds=RUN + 60).start(engines=2)
    rng = random.Random(SEED)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "kill", rate=RATE).start()
        kills, recoveries = [], []
        ends = time.monotonic() + RUN
        while time.monotonic() < ends:
            time.sleep(rng.uniform(LEASE + 1, 2 * LEASE + 4))
            before, killed_at = kill_leader(stack)
            kills.append(killed_at)
            stack.start_engine()
            recoveries.append(round(recovery_of(stack, before, killed_at), 2))
        # Every engine down, longer than the lease: /healthz must say so.
        down_at = time.time()
        for engine in stack.engines:
            engine.kill()
        time.sleep(LEASE + STOPPED_AFTER + 8)
        up_at = time.time()
        before = stack.lease()
        stack.start_engine()
        back = recovery_of(stack, before, up_at)
        stack.wait_healthy(30)
        healthy_at = time.time()
        settle_and_check_events(stack, sender, figures)
        handovers_until = time.time() - 5
        found = check_pages(stack, figures, duplicates_allowed=len(kills) + 1)
        samples = watch.stop()

        figures.update({"kills": len(kills), "lease_recovery_seconds": recoveries,
                        "lease_recovery_after_all_down_seconds": round(back, 2),
                        "healthz": health_summary(samples)})
        assert max(recoveries) <= LEASE + INTERVAL + SLACK, recoveries
        # /healthz: 200 all along while a standby was there to take over; 503 ("stopped")
        # from the lease's expiry while every engine was down; 200 once one was back.
        before_down = wrong_health(samples, 200, end=down_at)
        while_down = wrong_health(samples, lambda s: s.status == 503 and s.engine == "stopped",
                                  start=down_at + LEASE + STOPPED_AFTER + 1, end=up_at)
        after = wrong_health(samples, 200, start=healthy_at)
        figures["healthz_wrong"] = {"before": len(before_down), "while_down": len(while_down), "after": len(after)}
        assert not before_down and not while_down and not after, (before_down[:3], while_down[:3], after[:3])

        # Handovers: one row per change of hands, none missing, none twice.
        first = datetime.fromisoformat(stack.seeded["drill_first_change"])
        expected = {first + timedelta(seconds=20 * k) for k in range(int(stack.seeded["drill_changes"]))
                    if (first + timedelta(seconds=20 * k)).timestamp() <= handovers_until}
        rows = [to_epoch(at) for (at,) in stack.rows("SELECT at FROM handovers WHERE schedule_id = :s",
                                                         s=stack.seeded["drill_schedule_id"])]
        made = {datetime.fromtimestamp(at, UTC) for at in rows}
        figures["handovers"] = {"changes": len(expected), "rows": len(rows),
                                "messages": stack.one("SELECT count(*) FROM notifications WHERE purpose = 'handover'"),
                                "messages_sent": stack.one("SELECT count(*) FROM notifications WHERE purpose = "
                                                           "'handover' AND status IN ('sent', 'delivered')")}
        assert expected <= made and len(rows) == len(made), (sorted(expected - made), len(rows))
        figures["escalations"] = stack.one("SELECT count(*) FROM incident_events WHERE kind = 'escalated'")
        logs_clean(stack, figures)
        figures["duplicates_explained"] = (f"{found['duplicates']} provider requests without a record, "
                                           f"{len(kills) + 1} engine kills (at most one send in flight each)")
    finally:
        stack.close()


# --- a web worker killed ----------------------------------------------------------------------

def test_a_web_worker_killed_mid_request(work, figures):
    """8 gunicorn workers under events (20/s) and 20 browsers; a random worker is
    SIGKILLed every 3 s, 8 times. Its requests in flight are cut off; the sender retries
    them. Gunicorn's master starts a new worker each time."""
    stack = Stack(work, workers=8, lease=LEASE, interval=INTERVAL, stale=STALE, browsers=20).start(engines=1)
    rng = random.Random(SEED)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "worker", rate=20, threads=8).start()
        browsers = Browsers(stack.port, stack.seeded["cookies"], USER_AGENT, stack.seeded["cookie_name"]).start()
        time.sleep(5)
        killed = []
        for _ in range(8):
            pid = rng.choice(stack.worker_pids())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            time.sleep(3)
        wait_for(lambda: len(stack.worker_pids()) == 8 and not set(killed) & set(stack.worker_pids()), 60,
                 "gunicorn to replace its workers")
        time.sleep(5)
        timings = browsers.stop()
        cut = sum(n for status, n in sender.summary()["not_accepted_attempts"].items() if not status.isdigit())
        found = settle_and_check_events(stack, sender, figures, twice_allowed=cut)
        check_pages(stack, figures, duplicates_allowed=0)
        samples = watch.stop()
        browser_errors = {kind: {str(k): v for k, v in codes.items() if k == 0 or k >= 500}
                          for kind, codes in timings.statuses.items()}
        figures.update({"workers_killed": len(killed), "requests_cut": cut, "browser_errors": browser_errors,
                        "healthz": health_summary(samples),
                        "delivered_twice_explained": f"{found['delivered_twice']} of {cut} cut-off requests had "
                                                     "committed before the cut; their retries folded in"})
        assert all(k == 0 for codes in timings.statuses.values() for k in codes if k >= 500)
        assert all(not status.isdigit() for status in sender.summary()["not_accepted_attempts"])  # cut, never refused
        assert not [s for s in samples if s.status not in (200, None)], "healthz said something other than 200"
        assert health_summary(samples)["no answer"] <= len(killed)  # at most the probe a killed worker held
        assert "was sent SIGKILL" in stack.logs()["gunicorn"] or "Worker" in stack.logs()["gunicorn"]
        logs_clean(stack, figures)
    finally:
        stack.close()


# --- the providers down -----------------------------------------------------------------------

def test_twilio_and_the_smtp_server_down_for_minutes(work, figures):
    """The fake Twilio is killed (connections refused) for OUTAGE seconds; half way
    through, the SMTP server too, for OUTAGE seconds. Pages fall through to the other
    provider while one is down, retry with backoff, and all go out once they are back."""
    stack = Stack(work, workers=4, lease=LEASE, interval=INTERVAL, stale=STALE,
                  drill_seconds=2.5 * OUTAGE + 120).start(engines=1)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "outage", rate=min(RATE, 2)).start()
        time.sleep(15)
        twilio_down = time.time()
        stack.fakes["twilio"].kill()
        time.sleep(OUTAGE / 2)
        smtp_down = time.time()
        stack.fakes["smtp"].kill()
        time.sleep(OUTAGE / 2)
        stack.start_fake("twilio")
        twilio_up = time.time()
        time.sleep(OUTAGE / 2)
        stack.start_fake("smtp")
        smtp_up = time.time()
        time.sleep(10)
        settle_and_check_events(stack, sender, figures)
        # The longest backoff is 5 minutes: a page that failed just before the end waits that long.
        found = check_pages(stack, figures, duplicates_allowed=2, drain_seconds=360)
        samples = watch.stop()
        fell = stack.one("SELECT count(*) FROM incident_events WHERE kind = 'fell_through'")
        failed_attempts = stack.one("SELECT count(*) FROM incident_events WHERE kind = 'delivery_failed'")
        records = stack.fake_records("twilio") + stack.fake_records("smtp")
        after = [r for r in records if r["kind"] in ("sms", "call", "email") and r.get("status") in (201, 250)]
        figures.update({"twilio_down_seconds": round(twilio_up - twilio_down), "smtp_down_seconds":
                        round(smtp_up - smtp_down), "fell_through": fell, "delivery_failures_on_timeline": failed_attempts,
                        "sent_after_twilio_back": sum(1 for r in after if r["kind"] != "email" and r["t"] >= twilio_up),
                        "sent_after_smtp_back": sum(1 for r in after if r["kind"] == "email" and r["t"] >= smtp_up),
                        "healthz": health_summary(samples)})
        assert fell > 0, "no page fell through to the other provider"
        assert figures["sent_after_twilio_back"] > 0 and figures["sent_after_smtp_back"] > 0
        # The providers are outside Firebreak: /healthz stays 200, and the outbox page says what failed.
        assert not wrong_health(samples, 200)
        logs_clean(stack, figures)
        figures["duplicates_explained"] = (f"{found['duplicates']} requests the fakes took but never answered "
                                           "(killed between taking one and answering)")
    finally:
        stack.close()


# --- the disk nearly full ---------------------------------------------------------------------

@pytest.fixture
def small_disk(work):
    """A 64 MB tmpfs for the SQLite file (needs root to mount)."""
    mount = work / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    # The ballast starts as 8 MB held in reserve: whatever fills the disk first (the
    # database itself, or `fill`), removing the ballast gives space back.
    (mount / "ballast").write_bytes(b"\0" * (8 << 20))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Grow the ballast file until the disk is full, to the last byte (appending to
    a file that exists needs no new directory entry, so it works on a full disk)."""
    ballast = disk / "ballast"
    with open(ballast, "ab", buffering=0) as out:  # unbuffered: closing flushes nothing
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    return ballast


def test_the_disk_nearly_full(work, figures, small_disk):
    """The SQLite file on a small disk that fills up while events arrive: writes are
    refused with 503 and change nothing, /healthz says 503, nothing is corrupted;
    when space returns everything works again without a restart."""
    stack = Stack(work, workers=4, lease=LEASE, interval=INTERVAL, stale=STALE, database_dir=small_disk).start(engines=1)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "disk", rate=10).start()
        time.sleep(15)
        ballast = fill(small_disk)
        full_at = time.time()
        time.sleep(30)
        ballast.unlink()
        freed_at = time.time()
        wait_for(lambda: accepted_since(sender, freed_at), 60, "events accepted again")
        stack.wait_healthy(30)
        healthy_at = time.time()
        time.sleep(5)
        refused = sender.summary()["not_accepted_attempts"]
        found = settle_and_check_events(stack, sender, figures)
        check_pages(stack, figures, duplicates_allowed=3)
        samples = watch.stop()
        integrity = stack.one("PRAGMA integrity_check")
        figures.update({"refused_while_full": refused, "integrity_check": integrity,
                        "healthz": health_summary(samples), "full_seconds": round(freed_at - full_at),
                        "healthy_again_after_seconds": round(healthy_at - freed_at, 1)})
        # 503 while the database is away; a connection the server dropped as it
        # recovered is retried by the sender like any cut connection (counted).
        assert "503" in refused and set(refused) <= {"503", "BrokenPipeError", "ConnectionResetError"}, refused  # a clear 503, never a 500
        assert integrity == "ok"
        assert found["delivered_twice"] == 0  # a refused event changed nothing
        assert not wrong_health(samples, 200, end=full_at - 1)
        while_full = wrong_health(samples, 503, start=full_at + 1, end=freed_at)
        assert not while_full, while_full[:3]
        assert not wrong_health(samples, 200, start=healthy_at)
        text = "\n".join(stack.logs().values())
        assert "malformed" not in text and "corrupt" not in text
        figures["log_lines_disk_full"] = text.count("disk is full")
    finally:
        stack.close()


# --- restore from a backup during live load -------------------------------------------------

def test_the_database_restored_from_a_backup_during_live_load(work, figures):
    """`flask backup` while events arrive; 20 s later the instance is restored from it
    (engine and web stopped, the file replaced, both started again) while the sender
    keeps sending. What was accepted after the backup is lost, by definition; the
    instance comes back consistent and the engine resumes."""
    stack = Stack(work, workers=4, lease=LEASE, interval=INTERVAL, stale=STALE).start(engines=1)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "restore", rate=10).start()
        time.sleep(15)
        backup = work / "backup.db"
        backup_began = time.time()
        made = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "backup", str(backup)], cwd=ROOT, env=stack.env,
                              capture_output=True, text=True)
        backup_done = time.time()
        assert made.returncode == 0, made.stderr
        time.sleep(20)
        # The restore: stop the engine and the web (the sender keeps trying), swap the file, start again.
        stopped_at = time.time()
        for engine in stack.engines:
            engine.stop()
        stack.web.stop()
        database = stack.sqlite_path
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        database.write_bytes(backup.read_bytes())
        stack.start_web()
        before = stack.lease()
        restarted_at = time.time()
        stack.start_engine()
        back = recovery_of(stack, before, restarted_at)
        stack.wait_healthy(30)
        healthy_at = time.time()
        time.sleep(15)
        sender.stop_sending()
        sender.settle(60)
        sender.stop()
        occurrences = dict(stack.rows("SELECT dedup_key, sum(occurrences) FROM alerts WHERE client = 'fault-sender' "
                                      "GROUP BY dedup_key"))

        def first_accepted(event):
            return next((at for at, status in event.attempts if status == 202), None)

        before_backup = [e for e in sender.events if (first_accepted(e) or 1e18) < backup_began]
        between = [e for e in sender.events if backup_done < (first_accepted(e) or 0) < stopped_at
                   and all(at < stopped_at for at, status in e.attempts if status == 202)]
        after = [e for e in sender.events if any(at > restarted_at for at, status in e.attempts if status == 202)]
        lost_before = [e.key for e in before_backup if not occurrences.get(e.key)]
        kept_between = [e.key for e in between if occurrences.get(e.key)]
        lost_after = [e.key for e in after if not occurrences.get(e.key)]
        integrity = stack.one("PRAGMA integrity_check")
        foreign = stack.rows("PRAGMA foreign_key_check")
        found = check_pages(stack, figures, duplicates_allowed=10_000)  # counted below, not bounded
        samples = watch.stop()
        sends = [r for r in stack.fake_records("twilio") + stack.fake_records("smtp")
                 if r["kind"] in ("sms", "call", "email") and r.get("status") in (201, 250)]
        figures.update({
            "events_accepted_before_backup": len(before_backup), "lost_of_those": len(lost_before),
            "events_accepted_between_backup_and_restore": len(between),
            "of_those_in_the_database_after": len(kept_between),
            "events_accepted_after_restore": len(after), "lost_of_those_after": len(lost_after),
            "seconds_without_web": round(restarted_at - stopped_at, 1), "lease_taken_after_seconds": round(back, 2),
            "healthz": health_summary(samples), "integrity_check": integrity, "foreign_key_violations": len(foreign),
            "provider_requests_between_backup_and_restore": sum(1 for r in sends if backup_done < r["t"] < stopped_at),
            "provider_requests_the_restored_database_does_not_know": found["duplicates"]})
        assert integrity == "ok" and not foreign
        assert not lost_before and not lost_after
        assert not kept_between, "events accepted after the backup survived the restore?"
        assert back <= LEASE + INTERVAL + SLACK + 2  # the backup's lease row expires; a new engine takes it
        assert not wrong_health(samples, 200, end=stopped_at - 1)
        assert not wrong_health(samples, 200, start=healthy_at)
        # No engine from the stop on (a released lease reads "stopped" after STOPPED_AFTER), no web after that.
        assert not [s for s in samples if stopped_at + STOPPED_AFTER + 1 <= s.at <= restarted_at and s.status == 200]
        logs_clean(stack, figures)
    finally:
        stack.close()


# --- PostgreSQL unreachable -------------------------------------------------------------------

def test_postgresql_unreachable_for_a_while(work, figures):
    """The PostgreSQL server stops for 30 s under load, then starts again: requests that
    need it answer 503, /healthz says 503 within a second or two, and everything resumes
    by itself afterwards (the pool reconnects, the engine takes its lease back)."""
    stack = Stack(work, "postgresql", workers=4, lease=LEASE, interval=INTERVAL, stale=STALE).start(engines=1)
    try:
        watch = HealthWatch(stack.url, every=0.5)
        sender = Sender(stack.port, stack.seeded["routing_keys"], "pg", rate=10).start()
        time.sleep(15)
        stack.cluster.pause()
        down_at = time.time()
        time.sleep(30)
        stack.cluster.resume()
        up_at = time.time()
        stack.wait_healthy(60)
        healthy_at = time.time()
        time.sleep(10)
        refused = sender.summary()["not_accepted_attempts"]
        cut = sum(refused.values())
        found = settle_and_check_events(stack, sender, figures, twice_allowed=cut)
        # The database stops once: the sends in flight then cannot be recorded, and go again.
        check_pages(stack, figures, duplicates_allowed=IN_FLIGHT)
        samples = watch.stop()
        figures.update({"refused_while_down": refused, "healthz": health_summary(samples),
                        "healthy_again_after_seconds": round(healthy_at - up_at, 1),
                        "delivered_twice": found["delivered_twice"]})
        # 503 while the database is away; a connection the server dropped as it
        # recovered is retried by the sender like any cut connection (counted).
        assert "503" in refused and set(refused) <= {"503", "BrokenPipeError", "ConnectionResetError"}, refused
        assert not wrong_health(samples, 200, end=down_at - 1)
        assert not wrong_health(samples, lambda s: s.status == 503 and not s.database, start=down_at + 2, end=up_at)
        assert not wrong_health(samples, 200, start=healthy_at)
        text = "\n".join(stack.logs().values())
        figures["log_lines_unreachable"] = text.count("cannot be reached")
        logs_clean(stack, figures)
    finally:
        stack.close()
