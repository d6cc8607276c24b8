"""What the importers share (app.importers.core): a 429 is waited out as its
Retry-After says (seconds or an HTTP date) without the test waiting; bad credentials
and broken answers say what went wrong; vendor ids are remembered so a second run
finds the same row; a dry run, or a failure half-way, writes nothing."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Team
from app.extensions import db
from app.importers import core
from app.importers.core import ImportFailed, Ledger, VendorClient
from app.importers.models import ImportedObject
from app.auth import service as people
from tests.factories import SYSTEM
from tests.vendors.base import FakeVendorApi, Refusal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Fake(FakeVendorApi):
    def __init__(self):
        super().__init__()
        self.route(r"/things", lambda request, match: {"things": [1, 2]})
        self.route(r"/broken", self.broken)

    def authorised(self, request):
        return request.headers.get("authorization") == "Token token=right"

    @staticmethod
    def broken(request, match):
        raise Refusal(500, {"error": "boom"})


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.close()


def test_a_429_is_waited_out_as_retry_after_says(fake):
    clock.set(T0)
    waits = []
    client = VendorClient(fake.url, {"Authorization": "Token token=right"}, vendor="Vendor", sleep=waits.append)
    fake.rate_limited, fake.retry_after = 2, "7"
    assert client.get("/things") == {"things": [1, 2]}
    assert waits == [7.0, 7.0] and len(fake.requests) == 3
    fake.rate_limited, fake.retry_after = 1, "Mon, 02 Mar 2026 09:00:30 GMT"  # an HTTP date: 30 s from now
    assert client.get("/things") == {"things": [1, 2]} and waits[-1] == 30.0
    fake.rate_limited = core.MAX_RETRIES + 1
    with pytest.raises(ImportFailed, match="kept answering 429"):
        client.get("/things")
    fake.rate_limited, fake.retry_after, fake.extra_429_headers = 1, "", {"ratelimit-reset": "12"}
    assert client.get("/things") == {"things": [1, 2]} and waits[-1] == 12.0  # PagerDuty's header


@pytest.mark.parametrize(("value", "seconds"), [(None, 1.0), ("", 1.0), ("0", 0.0), ("3", 3.0), ("nonsense", 1.0),
                                                ("100000", core.LONGEST_WAIT), ("-5", 0.0)])
def test_retry_after_reads_seconds_and_bounds_them(value, seconds):
    clock.set(T0)
    assert core.retry_after(value) == seconds


def test_refused_credentials_and_broken_answers_say_what_went_wrong(fake):
    wrong = VendorClient(fake.url, {"Authorization": "Token token=wrong"}, vendor="Vendor", sleep=lambda s: None)
    with pytest.raises(ImportFailed, match=r"refused the credentials \(401\)"):
        wrong.get("/things")
    right = VendorClient(fake.url, {"Authorization": "Token token=right"}, vendor="Vendor", sleep=lambda s: None)
    with pytest.raises(ImportFailed, match="answered 500"):
        right.get("/broken")
    with pytest.raises(ImportFailed, match="could not be reached"):
        VendorClient("http://127.0.0.1:9", {}, vendor="Vendor").get("/things")


def test_vendor_ids_are_remembered_and_a_dry_run_or_a_failure_writes_nothing(app):
    clock.set(T0)
    ledger = Ledger("pagerduty")

    def work(report):
        team = ledger.find("team", "PT1", Team) or people.create_team(SYSTEM, name="Payments")
        ledger.remember("team", "PT1", team)
        report.created.append("team Payments")

    dry = core.run("PagerDuty", work, dry_run=True)
    assert dry.dry_run and "nothing was written" in dry.render()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportedObject)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 0

    report = core.run("PagerDuty", work, dry_run=False)
    assert "Created (1):\n  - team Payments" in report.render()
    core.run("PagerDuty", work, dry_run=False)  # found again: not made twice
    assert db.session.scalars(sa.select(Team.name)).all() == ["Payments"]
    assert ledger.find("team", "PT1", Team).name == "Payments"
    assert Ledger("opsgenie").find("team", "PT1", Team) is None  # another vendor's id space

    def half_way(report):
        people.create_team(SYSTEM, name="Search")
        raise ImportFailed("the vendor went away")

    with pytest.raises(ImportFailed):
        core.run("PagerDuty", half_way, dry_run=False)
    assert db.session.scalars(sa.select(Team.name)).all() == ["Payments"]
