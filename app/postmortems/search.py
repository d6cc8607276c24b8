"""Knowledge search: "we saw this in March".

`search_entries` holds one row per searchable thing (an incident, its post-mortem,
the post-mortem's lessons, each action item), rebuilt for a whole incident by
`refresh(incident)` inside the transaction that changed it. The full-text index
over the rows depends on the backend, both made by migration 0007:

- SQLite: an FTS5 table `search_fts` (external content, porter stemming) kept in
  step with `search_entries` by triggers; ranked with bm25, title weighted.
- PostgreSQL: a GIN index on `to_tsvector('english', title || ' ' || body)`;
  queried with `websearch_to_tsquery`, ranked with `ts_rank`.

Both accept the same query language for what people type: words (all must match,
stemmed) and "quoted phrases".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from markupsafe import Markup, escape

from app.alerts.models import Alert
from app.extensions import db
from app.incidents.models import PAGING_KINDS, Incident, IncidentEvent
from app.postmortems.models import (
    ActionItem, ContributingFactor, FishboneCause, Postmortem, SearchEntry, SectionKind, WhyNode,
)

KINDS = {"incident": "Incident", "postmortem": "Post-mortem", "lesson": "Lessons", "action_item": "Action item"}
# Timeline entries whose text does not describe the incident (or comes in storms):
# they neither add to its searchable text nor re-index it.
QUIET_KINDS = PAGING_KINDS | {"alert_triggered", "alert_acknowledged", "alert_resolved", "ack_timed_out",
                             "objective_breached", "role_proposed", "update_due", "update_overdue"}
MAX_EVENT_TEXTS = 200
MAX_BODY = 200_000
MARK_START, MARK_END = "\u27e6", "\u27e7"  # ⟦ ⟧: marks hits in snippets, then becomes <mark>
FTS_TABLE = "search_fts"
PG_INDEX = "ix_search_entries_fts"
PG_VECTOR = "to_tsvector('english'::regconfig, search_entries.title || ' ' || search_entries.body)"


# --- keeping the index -----------------------------------------------------------------

def event_changes_text(kind: str, data: dict | None = None) -> bool:
    """Whether a new timeline entry of this kind should re-index its incident. Not
    the paging machinery or alerts (they come in storms), nor the opening of an
    incident by an alert (ingestion stays fast; the first human entry or the
    resolution indexes it), nor the resolution itself: the engine's follow-up of it
    re-indexes (app.postmortems.service.follow_up)."""
    if kind == "opened":
        return (data or {}).get("source") != "alert"
    if kind == "resolved":
        return False
    return kind not in QUIET_KINDS


def refresh(incident: Incident) -> None:
    """Make the incident's search entries match what it, its post-mortem and its
    action items say now. Call in the transaction that changed them."""
    db.session.flush()
    wanted = {(row.kind, row.object_id): row for row in _entries_for(incident)}
    existing = {(row.kind, row.object_id): row for row in db.session.scalars(
        sa.select(SearchEntry).where(SearchEntry.incident_id == incident.id))}
    for key, row in existing.items():
        if key not in wanted:
            db.session.delete(row)
    for key, new in wanted.items():
        row = existing.get(key)
        if row is None:
            db.session.add(new)
            continue
        for name in ("service_id", "severity", "tags", "title", "body", "at"):
            if getattr(row, name) != getattr(new, name):
                setattr(row, name, getattr(new, name))


def _tags(postmortem: Postmortem | None) -> str:
    tags = postmortem.tag_list if postmortem else []
    return f" {' '.join(tags)} " if tags else ""


def _entry(kind: str, object_id: int, incident: Incident, title: str, body: str, at: datetime, tags: str) -> SearchEntry:
    return SearchEntry(kind=kind, object_id=object_id, incident_id=incident.id, service_id=incident.service_id,
                       severity=incident.severity, tags=tags, title=title[:1024], body=body[:MAX_BODY], at=at)


def _entries_for(incident: Incident) -> list[SearchEntry]:
    postmortem = db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == incident.id))
    tags = _tags(postmortem)
    texts = db.session.scalars(
        sa.select(IncidentEvent.text).where(IncidentEvent.incident_id == incident.id,
                                            IncidentEvent.kind.notin_(QUIET_KINDS), IncidentEvent.text != "")
        .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc()).limit(MAX_EVENT_TEXTS)).all()
    alerts = db.session.scalars(sa.select(Alert.summary).where(Alert.incident_id == incident.id)
                                .group_by(Alert.summary).limit(20)).all()
    body = "\n".join([incident.description or "", incident.service.name, *alerts, *reversed(texts)])
    entries = [_entry("incident", incident.id, incident, f"#{incident.id} {incident.title}", body,
                      incident.created_at, tags)]
    if postmortem is not None:
        entries += _postmortem_entries(postmortem, incident, tags)
    for item in db.session.scalars(sa.select(ActionItem).where(ActionItem.incident_id == incident.id)):
        entries.append(_entry("action_item", item.id, incident, f"{item.ref} {item.title}",
                              "\n".join([item.description or "", item.kind.value, item.wont_do_reason or ""]),
                              item.created_at, tags))
    return entries


def _postmortem_entries(postmortem: Postmortem, incident: Incident, tags: str) -> list[SearchEntry]:
    lessons = "\n\n".join(s.body for s in postmortem.sections if s.kind == SectionKind.LESSONS and s.body.strip())
    parts = [postmortem.problem_statement or "", postmortem.public_summary or ""]
    parts += [f"{s.heading}\n{s.body}" for s in postmortem.sections if s.body.strip() and s.kind != SectionKind.LESSONS]
    parts += [f"{w.why} {w.because}" for w in db.session.scalars(
        sa.select(WhyNode).where(WhyNode.postmortem_id == postmortem.id))]
    parts += [f"{c.category}: {c.text}" for c in db.session.scalars(
        sa.select(FishboneCause).where(FishboneCause.postmortem_id == postmortem.id))]
    parts += [f"{f.category.name}: {f.description}" for f in db.session.scalars(
        sa.select(ContributingFactor).where(ContributingFactor.postmortem_id == postmortem.id))]
    at = postmortem.published_at or postmortem.created_at
    entries = [_entry("postmortem", postmortem.id, incident, f"Post-mortem: {postmortem.title}", "\n".join(parts),
                      at, tags)]
    if lessons:
        entries.append(_entry("lesson", postmortem.id, incident, f"Lessons from #{incident.id} {incident.title}",
                              lessons, at, tags))
    return entries


# --- searching --------------------------------------------------------------------------

@dataclass
class Filters:
    q: str = ""
    service_id: int | None = None
    severity: int | None = None
    tag: str = ""
    kind: str = ""


@dataclass
class Hit:
    kind: str
    object_id: int
    incident_id: int
    title: str
    snippet: Markup
    at: datetime
    severity: int | None
    service_id: int | None

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


def fts5_query(text: str) -> str:
    """What a person typed as an FTS5 query: each word or "quoted phrase" a quoted
    string (so no character is an operator), all of them required."""
    terms = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', text):
        term = (phrase or word).strip()
        if not term or not re.search(r"\w", term):
            continue
        terms.append('"' + term.replace('"', '""') + '"')
    return " ".join(terms)


def _mark(snippet: str) -> Markup:
    return Markup(str(escape(snippet)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _filters(f: Filters) -> list:
    where = []
    if f.service_id:
        where.append(SearchEntry.service_id == f.service_id)
    if f.severity:
        where.append(SearchEntry.severity == f.severity)
    if f.tag:
        where.append(SearchEntry.tags.contains(f" {normalise_tag(f.tag)} ", autoescape=True))
    if f.kind in KINDS:
        where.append(SearchEntry.kind == f.kind)
    return where


def normalise_tag(tag: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", tag.strip().lower()).strip("-")[:40]


def search(f: Filters, *, limit: int = 50) -> list[Hit]:
    """Best matches first. Without words, the newest entries that pass the filters."""
    columns = (SearchEntry.kind, SearchEntry.object_id, SearchEntry.incident_id, SearchEntry.title,
               SearchEntry.at, SearchEntry.severity, SearchEntry.service_id)
    where = _filters(f)
    if not f.q.strip():
        if not where:
            return []
        rows = db.session.execute(sa.select(*columns, sa.func.substr(SearchEntry.body, 1, 200))
                                  .where(*where).order_by(SearchEntry.at.desc()).limit(limit)).all()
        return [_hit(row[:-1], escape(row[-1])) for row in rows]
    if db.engine.dialect.name == "postgresql":
        query = sa.func.websearch_to_tsquery("english", f.q)
        vector = sa.literal_column(PG_VECTOR)  # exactly the indexed expression, so the GIN index serves it
        headline = sa.func.ts_headline(
            "english", SearchEntry.body, query,
            f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=10, MaxFragments=2, "
            "FragmentDelimiter= … ")
        stmt = (sa.select(*columns, headline).where(vector.op("@@")(query), *where)
                .order_by(sa.func.ts_rank(vector, query).desc(), SearchEntry.at.desc()).limit(limit))
        rows = db.session.execute(stmt).all()
    else:
        match = fts5_query(f.q)
        if not match:
            return []
        fts = sa.table(FTS_TABLE, sa.column("rowid"))
        snippet = sa.func.snippet(sa.literal_column(FTS_TABLE), 1, MARK_START, MARK_END, " … ", 24)
        rank = sa.func.bm25(sa.literal_column(FTS_TABLE), 5.0, 1.0)
        stmt = (sa.select(*columns, snippet).select_from(fts.join(SearchEntry, SearchEntry.id == fts.c.rowid))
                .where(sa.literal_column(FTS_TABLE).op("MATCH")(match), *where)
                .order_by(rank, SearchEntry.at.desc()).limit(limit))
        rows = db.session.execute(stmt).all()
    return [_hit(row[:-1], _mark(row[-1] or "")) for row in rows]


def _hit(row, snippet: Markup) -> Hit:
    kind, object_id, incident_id, title, at, severity, service_id = row
    return Hit(kind=kind, object_id=object_id, incident_id=incident_id, title=title, snippet=snippet, at=at,
               severity=severity, service_id=service_id)


def all_tags() -> list[str]:
    """Every tag in use, for the filter."""
    found: set[str] = set()
    for tags in db.session.scalars(sa.select(Postmortem.tags).where(Postmortem.tags != "")):
        found.update(t for t in tags.split(",") if t)
    return sorted(found)
