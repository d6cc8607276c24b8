"""The page SMS: one GSM-7 segment whatever the alert says, the service named once, a short link."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.notify import paging, text
from app.notify.text import PageFacts, gsm7, page_email, page_sms, page_speech, sms_length
from tests.factories import SYSTEM, login, make_service, make_user

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)
GSM = text._GSM_BASIC | text._GSM_EXTENDED
HOST_40 = "firebreak-paging.eu-west-1.example.co.uk"
BASE_40 = f"https://{HOST_40}"


def facts(title: str, *, service: str = "checkout-api", number: int = 42, severity: int | None = 2,
          base: str = "https://firebreak.example.com") -> PageFacts:
    return PageFacts(number=number, severity=severity, service=service, title=title,
                     url=f"{base}/incidents/{number}", link=f"{base}/i/{number}")


def test_a_page_sms_names_the_incident_then_the_short_link_then_the_reply_codes():
    assert page_sms(facts("HTTP 5xx 7.2% over 5m")) == (
        "[SEV-2 #42] checkout-api: HTTP 5xx 7.2% over 5m\n"
        "https://firebreak.example.com/i/42\n"
        "Reply 42A ack, 42R resolve, 42E escalate")


@pytest.mark.parametrize("title", [
    "payments-api: HTTP 5xx", "payments-api:HTTP 5xx", "Payments-API - HTTP 5xx", "payments-api HTTP 5xx",
    "payments-api | HTTP 5xx", "  payments-api :  HTTP   5xx ",
])
def test_a_summary_starting_with_the_service_does_not_repeat_it(title):
    page = facts(title, service="payments-api", severity=1)
    assert page_sms(page).splitlines()[0] == "[SEV-1 #42] payments-api: HTTP 5xx"
    assert page_email(page)[0] == "[SEV-1 #42] payments-api: HTTP 5xx"
    assert page_speech(page) == "This is Firebreak. Severity 1 incident 42 on payments api. HTTP 5xx."


@pytest.mark.parametrize("title", ["payments-apiv2 down", "payments-api-v2 down", "payments down", "api payments-api"])
def test_a_summary_that_only_looks_like_the_service_is_kept(title):
    assert page_sms(facts(title, service="payments-api")).splitlines()[0] == f"[SEV-2 #42] payments-api: {title}"


def test_a_summary_that_is_only_the_service_leaves_the_service():
    page = facts("Payments-API", service="payments-api")
    assert page_sms(page).splitlines()[0] == "[SEV-2 #42] payments-api"
    assert page_email(page)[0] == "[SEV-2 #42] payments-api"
    assert page_speech(page) == "This is Firebreak. Severity 2 incident 42 on payments api."


def test_the_email_keeps_the_whole_title_and_the_incident_page():
    subject, body = page_email(facts("checkout-api: " + "x" * 300))
    assert subject.startswith("[SEV-2 #42] checkout-api: xxx") and "checkout-api: checkout-api" not in subject
    assert "checkout-api: " + "x" * 300 in body and "https://firebreak.example.com/incidents/42" in body


LONG = "Error budget burn on the card authorisation path is far above the threshold " * 7  # 532 characters
SUMMARIES = [
    pytest.param("HTTP 5xx", id="short"),
    pytest.param(LONG, id="long"),
    pytest.param("{}[]€~^|\\" * 60, id="extension-characters"),
    pytest.param("Checkout “down” 😱 支付失败 — 5xx… ≥ 7% " * 15, id="emoji-cjk-quotes"),
    pytest.param("line one\nline two\r\n\ttabbed " * 30, id="control-whitespace"),
]
SERVICES = [
    pytest.param("checkout-api", id="service"),
    pytest.param("payments-authorisation-gateway-europe-west-primary-cluster-" * 2, id="long-service"),
    pytest.param("{eu}[pay]€-" * 8, id="extension-service"),
    pytest.param("支付服务 😱", id="cjk-service"),
]


@pytest.mark.parametrize("number", [7, 42, 99_999, 999_999])
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("summary", SUMMARIES)
def test_every_page_sms_is_one_gsm7_segment_with_a_40_character_host(number, service, summary):
    assert len(HOST_40) == 40
    sms = page_sms(facts(summary, service=service, number=number, severity=1, base=BASE_40))
    assert set(sms) <= GSM, {c for c in sms if c not in GSM}  # never UCS-2
    assert sms_length(sms) <= text.SMS_SEGMENT, (sms_length(sms), sms)
    first, link, codes = sms.split("\n")
    assert link == f"{BASE_40}/i/{number}"
    assert codes == f"Reply {number}A ack, {number}R resolve, {number}E escalate"
    named, _, said = first.partition("] ")[2].partition(": ")
    service_text, summary_text = " ".join(gsm7(service).split()), " ".join(gsm7(summary).split())
    assert named == service_text or (named.endswith("...") and service_text.startswith(named[:-3])), named
    assert said == summary_text or (said.endswith("...") and summary_text.startswith(said[:-3])), said
    assert sms_length(said) >= min(sms_length(summary_text), 15), said  # the summary keeps useful room


def test_a_short_summary_keeps_its_words_and_the_long_service_gives_way():
    sms = page_sms(facts("Card payments fail", service="payments-authorisation-gateway-europe-west",
                         number=999_999, base=BASE_40))
    first = sms.splitlines()[0]
    assert first.startswith("[SEV-2 #999999] payments") and first.endswith("...: Card payments fail"), first
    assert sms_length(sms) <= 160


def test_a_missing_severity_stays_gsm7():
    sms = page_sms(facts("Disk full", severity=None))
    assert sms.startswith("[- #42] checkout-api: Disk full") and set(sms) <= GSM


def test_a_bundle_does_not_repeat_the_service_either():
    bundle = text.bundle_sms([facts("checkout-api: HTTP 5xx", number=42), facts("Slow", number=43, severity=1)],
                             "https://firebreak.example.com/incidents/")
    assert "#42 SEV-2 checkout-api: HTTP 5xx\n" in bundle and set(bundle) <= GSM


@pytest.fixture
def incident(app):
    clock.set(T0)
    incident = incidents.open_incident(SYSTEM, service=make_service("payments-api"),
                                       title="payments-api: HTTP 5xx 7.2% over 5m", severity=2, now=T0)
    db.session.commit()
    return incident


def test_the_page_carries_the_short_link(incident):
    page = paging.facts(incident)
    assert page.link == f"http://localhost/i/{incident.id}" and page.url == f"http://localhost/incidents/{incident.id}"
    assert page_sms(page) == (f"[SEV-2 #{incident.id}] payments-api: HTTP 5xx 7.2% over 5m\n"
                              f"http://localhost/i/{incident.id}\n"
                              f"Reply {incident.id}A ack, {incident.id}R resolve, {incident.id}E escalate")


def test_the_short_link_opens_the_incident(client, incident):
    login(client, make_user(Role.VIEWER))
    answer = client.get(f"/i/{incident.id}")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/incidents/{incident.id}"
    assert client.get(answer.headers["Location"]).status_code == 200
    assert client.get(f"/i/{incident.id + 1}").status_code == 404
    assert client.get(f"/i/{2**63}").status_code == 404


def test_the_short_link_asks_who_you_are_first(client, incident):
    for number in (incident.id, incident.id + 1):  # the same answer: no account learns which numbers exist
        answer = client.get(f"/i/{number}")
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")
        assert f"/i/{number}" in answer.headers["Location"].replace("%2F", "/")
