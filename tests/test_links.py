"""Links that leave Firebreak (SMS, calls, email, webhooks, feeds) come from one helper,
app.links.external_url: PUBLIC_BASE_URL, then the route's path, whoever asks."""
from __future__ import annotations

import pytest

from app.links import external_url
from app.notify import paging
from app.notify.twilio_views import public_url

BASES = ["http://localhost", "https://incidents.example.com", "https://Example.COM:8443/ops/firebreak"]


@pytest.mark.parametrize("base", BASES)
def test_outside_a_request_the_link_is_the_public_base_and_the_path(app, base):
    """The engine sends pages with an app context and no request."""
    app.config["PUBLIC_BASE_URL"] = base
    with app.app_context():
        assert external_url("incidents.show", incident_id=42) == f"{base}/incidents/42"
        assert external_url("incidents.index") == f"{base}/incidents/"
        assert external_url("comms.index", _anchor="templates") == f"{base}/comms#templates"
        assert external_url("oncall.schedule_feed", schedule_id=3, token="abc_-9") == \
            f"{base}/schedules/3/oncall.ics?token=abc_-9"


@pytest.mark.parametrize("base", BASES)
def test_page_sms_links_are_byte_for_byte_what_they_were(app, base):
    """tests/test_page_text.py counts an SMS's characters with these."""
    app.config["PUBLIC_BASE_URL"] = base
    with app.app_context():
        assert paging.short_url(7) == f"{base}/i/7"
        assert paging.incident_url(7) == f"{base}/incidents/7"


@pytest.mark.parametrize("base", BASES)
def test_behind_a_proxy_the_request_host_never_leaks_in(app, base):
    app.config["PUBLIC_BASE_URL"] = base
    with app.test_request_context("/incidents/", base_url="http://10.0.0.5:8080/",
                                  headers={"X-Forwarded-Host": "internal.lan"}):
        assert external_url("incidents.show", incident_id=42) == f"{base}/incidents/42"
    # Mounted under the prefix (SCRIPT_NAME): the prefix comes from PUBLIC_BASE_URL, once.
    with app.test_request_context("/incidents/", base_url="http://10.0.0.5:8080/ops/firebreak/"):
        assert external_url("incidents.show", incident_id=42) == f"{base}/incidents/42"


@pytest.mark.parametrize("base", BASES)
def test_twilio_is_sent_the_url_its_signature_is_checked_against(app, base):
    """A call's TwiML URL, signed by Twilio, comes back and is checked as PUBLIC_BASE_URL + path."""
    app.config["PUBLIC_BASE_URL"] = base
    with app.app_context():
        sent = external_url("twilio.voice", notification_id=5)
    with app.test_request_context("/twilio/voice/5", method="POST", base_url="http://10.0.0.5:8080/"):
        assert public_url() == sent
