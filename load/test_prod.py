"""`make prod-check`: the production layout, run for real (also part of `make faults`).

Caddy from the OS packages terminates TLS with its internal CA (deploy/Caddyfile, the
file compose.yaml mounts) and balances two gunicorn processes, with active health
checks on /healthz/ready and passive ones on failed connections; two engines (a
leader and a standby) on one PostgreSQL; the fake Twilio and an SMTP server; the
engine settings are production's defaults (a 15 s lease). Every client verifies
Caddy's certificate against its CA's root. Then:
  * an alert sent over HTTPS to /v2/enqueue opens an incident and its SMS reaches
    the fake Twilio; the answer says it came over TLS (HSTS: PROXY_COUNT trusted
    Caddy's X-Forwarded-Proto) and Twilio's signed status callbacks, sent to
    PUBLIC_BASE_URL through Caddy, are accepted;
  * events flow without a pause while the engine holding the lease is SIGKILLed, then
    one web process with all its workers (the machine gone);
  * the standby takes the lease within the lease period; Caddy stops sending to the
    dead process: after the requests it held when it died, none fails;
  * load/test_faults.py's checks: nothing accepted is lost, no page is lost, none is
    sent twice beyond the documented bound (NOTIFY_CONCURRENCY per engine killed),
    and /healthz through Caddy says 200 throughout.

Settings: PROD_EVENT_RATE (4/s), FAULTS_WORK (keep the run's files), FAULTS_JSON.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request

from load.front import FrontedStack
from load.stack import HealthWatch
from load.sender import Sender
from load.test_faults import (IN_FLIGHT, accepted_since, check_pages, health_summary, kill_leader, logs_clean,
                              recovery_of, settle_and_check_events, wrong_health)
from tests.fakes import wait_for

# Production's defaults (app/config.py), so the takeover measured is the one deployed.
LEASE, INTERVAL, STALE = 15.0, 0.5, 45.0
SLACK = 3.0  # process start-up and scheduling on a small machine shared with other work
RATE = float(os.environ.get("PROD_EVENT_RATE", "4"))
# Caddy's active checks run every 2 s and a failed connection takes a process out at
# once; what the dead process held when it died is cut, and answered 502.
ROUTED_AROUND_WITHIN = 5.0


def send_alert(stack: FrontedStack, key: str, summary: str):
    body = json.dumps({"routing_key": stack.seeded["routing_keys"][0], "event_action": "trigger", "dedup_key": key,
                       "payload": {"summary": summary, "source": "prod-check", "severity": "critical"}}).encode()
    request = urllib.request.Request(stack.url + "/v2/enqueue", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20, context=stack.tls) as answer:
        return answer.status, answer.headers, json.loads(answer.read())


def first_sms(stack: FrontedStack, key: str) -> dict | None:
    """The fake Twilio's record of the first SMS paged for the incident `key` opened."""
    sids = {sid for (sid,) in stack.rows(
        "SELECT n.provider_id FROM notifications n JOIN alerts a ON a.incident_id = n.incident_id "
        "WHERE a.dedup_key = :key AND n.channel = 'sms' AND n.provider_id IS NOT NULL", key=key)}
    sent = [r for r in stack.fake_records("twilio") if r["kind"] == "sms" and r["sid"] in sids]
    return min(sent, key=lambda r: r["t"]) if sent else None


def test_the_production_layout_pages_through_a_dead_engine_and_a_dead_web_process(work, figures):
    stack = FrontedStack(work, webs=2, workers=2, threads=8, lease=LEASE, interval=INTERVAL,
                         stale=STALE).start(engines=2)
    try:
        # One alert over HTTPS pages someone.
        sent_at = time.time()
        status, headers, body = send_alert(stack, "prod-check-first", "checkout-api: HTTP 5xx above 5%")
        assert status == 202 and body["status"] == "success", body
        assert "max-age" in headers.get("Strict-Transport-Security", ""), "the app did not see the request as https"
        sms = wait_for(lambda: first_sms(stack, "prod-check-first"), 60, "the first alert's SMS")
        figures["first_alert_to_sms_seconds"] = round(sms["t"] - sent_at, 2)

        # Events all along; the leading engine killed, then one web process.
        watch = HealthWatch(stack.url, every=0.5, context=stack.tls)
        sender = Sender(stack.https_port, stack.seeded["routing_keys"], "prod", rate=RATE,
                        tls=stack.tls, host="localhost").start()
        time.sleep(10)
        before, engine_killed_at = kill_leader(stack)
        takeover = recovery_of(stack, before, engine_killed_at)
        time.sleep(5)
        served_before = [stack.served(web) for web in stack.webs]
        dead, alive = stack.webs
        web_killed_at = time.time()
        dead.kill_group()
        time.sleep(20)
        served_after = stack.served(alive) - served_before[1]
        assert accepted_since(sender, web_killed_at + ROUTED_AROUND_WITHIN)
        with sender.lock:
            failed = sorted(at - web_killed_at for event in sender.events for at, status in event.attempts
                            if status != 202 and at >= web_killed_at)
        cut = len(failed)
        found_events = settle_and_check_events(stack, sender, figures, twice_allowed=cut)
        found = check_pages(stack, figures, duplicates_allowed=IN_FLIGHT)
        samples = watch.stop()
        callbacks = [r["status"] for r in stack.fake_records("twilio") if r["kind"] == "callback"]

        figures.update({
            "events_accepted": found_events["accepted"], "pages_sent": found["rows_sent"],
            "provider_requests": found["provider_requests"], "duplicates": found["duplicates"],
            "duplicates_allowed": f"{IN_FLIGHT} (NOTIFY_CONCURRENCY, for the one engine killed)",
            "lease_seconds": LEASE, "takeover_seconds": round(takeover, 2),
            "enqueues_served_before_the_web_kill": served_before, "served_by_the_survivor_after": served_after,
            "answers_not_202_after_the_web_kill": {"count": cut, "seconds_after": [round(t, 2) for t in failed]},
            "status_callbacks": {str(s): callbacks.count(s) for s in sorted(set(callbacks), key=str)},
            "healthz_through_caddy": health_summary(samples)})
        assert takeover <= LEASE + INTERVAL + SLACK, takeover
        assert all(served_before), f"Caddy did not balance over both web processes: {served_before}"
        assert served_after > 0
        # Only what the dead process held when it died; afterwards Caddy sends nothing its way.
        assert all(t <= ROUTED_AROUND_WITHIN for t in failed), failed
        assert set(status for event in sender.events for _, status in event.attempts) <= {202, 502}
        assert callbacks and callbacks.count(200) + callbacks.count(204) >= len(callbacks) - cut, callbacks
        assert not wrong_health(samples, 200), [s for s in samples if s.status != 200][:3]
        logs_clean(stack, figures)
    finally:
        stack.close()
