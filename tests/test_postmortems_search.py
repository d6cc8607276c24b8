"""Knowledge search across incidents, post-mortems, lessons and action items, on
SQLite's FTS5 and PostgreSQL's full text alike (every test here runs on both)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.postmortems import actions, search
from app.postmortems import service as postmortems
from app.postmortems.models import SearchEntry, SectionKind
from tests.factories import SYSTEM, actor, login, make_service, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app):
    clock.set(T0)
    postmortems.ensure_defaults()  # PostgreSQL tests start from empty tables, without migration 0007's rows
    dana = make_user(Role.RESPONDER, name="Dana Okafor")
    checkout = make_service("checkout-api")
    gateway = make_service("api-gateway")

    def incident(title, service, severity, note, lessons=None, tags=""):
        inc = incidents.open_incident(SYSTEM, service=service, title=title, severity=severity,
                                      now=clock.advance(timedelta(days=1)))
        incidents.add_note(actor(dana), inc, note, clock.now())
        incidents.resolve(actor(dana), inc, clock.now())
        pm = postmortems.for_incident(inc) or postmortems.create_postmortem(actor(dana), inc, clock.now())
        if lessons:
            section = pm.section_of(SectionKind.LESSONS) or pm.sections[0]
            postmortems.update_section(actor(dana), pm, section, lessons, clock.now())
        if tags:
            postmortems.update_details(actor(dana), pm, clock.now(), tags=tags)
        db.session.commit()
        return inc, pm

    march, march_pm = incident("Checkout fails for card payments", checkout, 2,
                               "Connection pool exhausted on payments-db",
                               lessons="Watch pool saturation: the connection pool ran out before CPU did.",
                               tags="database, capacity")
    april, _ = incident("Gateway returns 502", gateway, 1, "TLS certificate expired on the edge",
                        lessons="Certificates need an expiry alert thirty days ahead.", tags="tls")
    small, _ = incident("Slow search page", checkout, 3, "Search index rebuilding during business hours")
    item = actions.create_item(actor(dana), march, clock.now(), title="Alert on pool saturation at 80 percent",
                               due_on=date(2026, 4, 1), owner_id=dana.id)
    db.session.commit()
    return type("World", (), dict(dana=dana, checkout=checkout, gateway=gateway, march=march, march_pm=march_pm,
                                  april=april, small=small, item=item))


def found(q="", **filters):
    return [(hit.kind, hit.object_id) for hit in search.search(search.Filters(q=q, **filters))]


@pytest.mark.db
def test_a_phrase_from_the_lessons_finds_them_and_their_incident(world):
    hits = found('"connection pool ran out"')
    assert hits[0] == ("lesson", world.march_pm.id)
    assert found("pool ran out")[0] == ("lesson", world.march_pm.id)
    [hit] = [h for h in search.search(search.Filters(q="certificates expiry")) if h.kind == "lesson"]
    assert hit.incident_id == world.april.id and "<mark>" in str(hit.snippet)


@pytest.mark.db
def test_words_are_stemmed_and_every_word_must_match(world):
    assert ("incident", world.march.id) in found("exhausting pools")  # exhausted, pool
    assert ("incident", world.april.id) in found("certificate expiring")
    assert found("certificate pool") == []
    assert ("action_item", world.item.id) in found("saturation alert")


@pytest.mark.db
def test_filters_by_service_severity_tag_and_kind(world):
    everything = found("pool")
    assert {kind for kind, _ in everything} >= {"incident", "lesson", "action_item"}
    assert found("pool", service_id=world.gateway.id) == []
    assert ("incident", world.small.id) in found("search", severity=3)
    assert found("search", severity=1) == []
    assert {obj for _, obj in found("pool", tag="database")} >= {world.march.id}
    assert found("pool", tag="tls") == []
    assert found("pool", kind="lesson") == [("lesson", world.march_pm.id)]
    # Filters alone list the newest matching entries.
    assert set(found(tag="tls")) >= {("incident", world.april.id)}


@pytest.mark.db
def test_what_people_type_is_never_a_query_syntax_error(world):
    for q in ['"', 'pool"', "pool OR", "NEAR(", "AND", "pool -", "*", "col:pool", "(pool", "^", "'", "\\"]:
        search.search(search.Filters(q=q))  # no exception, whatever it finds


@pytest.mark.db
def test_the_index_follows_changes_and_deletions(world):
    pm = world.march_pm
    section = pm.section_of(SectionKind.LESSONS)
    postmortems.update_section(actor(world.dana), pm, section, "Rate limits protect the ledger.", clock.now())
    db.session.commit()
    assert ("lesson", pm.id) not in found("pool ran out")
    assert found("ledger rate limits")[0] == ("lesson", pm.id)
    incidents.rename(actor(world.dana), world.small, "Search page times out", clock.now())
    db.session.commit()
    assert ("incident", world.small.id) in found("times out")
    db.session.delete(world.small)
    db.session.commit()
    assert ("incident", world.small.id) not in found("times out")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SearchEntry)
                             .where(SearchEntry.incident_id == world.small.id)) == 0


@pytest.mark.db
def test_alert_storms_do_not_reindex_but_humans_do(world, app):
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title="Disk full on db-3", severity=3,
                                       now=clock.now(), source="alert")
    db.session.commit()
    assert found("disk full") == []  # opened by monitoring: indexed at the first human word
    incidents.add_note(actor(world.dana), incident, "Rotating the logs", clock.now())
    db.session.commit()
    assert ("incident", incident.id) in found("disk full")


@pytest.mark.db
def test_the_search_page_links_to_what_it_found(world, client):
    login(client, world.dana)
    answer = client.get("/search", query_string={"q": "connection pool ran out"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert f'href="/postmortems/{world.march_pm.id}#lessons"' in text and "<mark>" in text
    fragment = client.get("/search", query_string={"q": "certificate"}, headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="search-results"') and f"/incidents/{world.april.id}" in body
    assert client.get("/search", query_string={"q": "pool", "severity": "SEV-9", "service_id": "x"}).status_code == 200


@pytest.mark.db
def test_each_backend_answers_from_its_full_text_index(world, backend):
    q = search.Filters(q="connection pool")
    statements = []

    def listen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        assert search.search(q)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)
    statement, parameters = statements[-1]
    with db.engine.connect() as conn:
        if backend == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "ix_search_entries_fts" in plan, plan
        else:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                          parameters))
            assert "VIRTUAL TABLE INDEX" in plan and "search_fts" in plan, plan
