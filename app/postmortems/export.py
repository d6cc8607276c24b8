"""A post-mortem as one document: gathered once, shown as the page, printed, exported
as Markdown (for wikis and the version history), or rendered to PDF.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app import clock
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from app.postmortems import actions, facts, fishbone
from app.postmortems import service as postmortems
from app.postmortems.models import ActionItem, ContributingFactor, Postmortem, SectionKind
from app.triage import levels

PRINT_CSS = Path(__file__).resolve().parent.parent.parent / "static" / "css" / "postmortem-print.css"


@dataclass
class Document:
    pm: Postmortem
    incident: Incident
    events: list[IncidentEvent]
    starred: list[IncidentEvent]
    milestones: list
    durations: list[facts.Figure]
    impact: list[facts.Figure]
    responders: list[facts.Responder]
    communications: list[facts.Communication]
    whys: list[postmortems.WhyTree]
    fishbone: list[tuple[str, list]]
    factors: list[ContributingFactor]
    action_items: list[ActionItem]

    @property
    def fishbone_svg(self):
        return fishbone.svg(self.pm.problem_statement or self.incident.title,
                            [(name, [c.text for c in causes]) for name, causes in self.fishbone],
                            title=f"Fishbone diagram: {self.pm.problem_statement or self.incident.title}")

    @property
    def has_fishbone(self) -> bool:
        return any(causes for _, causes in self.fishbone)


def gather(pm: Postmortem) -> Document:
    incident = pm.incident
    return Document(
        pm=pm, incident=incident, events=facts.timeline(incident), starred=facts.starred(incident),
        milestones=facts.milestones(incident), durations=facts.durations(incident),
        impact=facts.impact(incident, customers_affected=pm.customers_affected, cost=pm.cost),
        responders=facts.responders(incident), communications=facts.communications(incident),
        whys=postmortems.why_tree(pm), fishbone=postmortems.fishbone(pm), factors=postmortems.factors(pm),
        action_items=db.session.scalars(actions.query(actions.ItemFilter(status="all", incident_id=incident.id),
                                                      clock.now().date())).all(),
    )


# --- Markdown ------------------------------------------------------------------------------

def _utc(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return clock.utc(value).strftime(fmt) if value else "—"


def _cell(value) -> str:
    return " ".join(str(value if value is not None else "").split()).replace("|", "\\|") or " "


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _whys_md(trees, indent: int = 0) -> list[str]:
    lines = []
    for i, tree in enumerate(trees, 1):
        node = tree.node
        answer = f" — because {_cell(node.because)}" if node.because else " — *(not answered yet)*"
        mark = " **(root cause)**" if node.root_cause else ""
        lines.append(f"{'   ' * indent}{i}. {_cell(node.why)}{answer}{mark}")
        lines += _whys_md(tree.children, indent + 1)
    return lines


def _section_data(doc: Document, kind: SectionKind) -> list[str]:
    lines: list[str] = []
    if kind == SectionKind.SUMMARY and doc.starred:
        lines += ["**Key moments**", ""]
        lines += [f"- {_utc(e.at, '%H:%M')} UTC — {facts.tag_label(e.tag) + ': ' if e.tag else ''}{_cell(e.text)}"
                  for e in doc.starred] + [""]
    elif kind == SectionKind.IMPACT:
        lines += _table(["Figure", "Value"], [[f.label, f.value] for f in doc.impact])
    elif kind == SectionKind.MILESTONES:
        lines += _table(["Milestone", "Time"], [[label, _utc(at)] for label, at in doc.milestones])
        lines += _table(["Duration", "Length"], [[f.label, f.value] for f in doc.durations])
    elif kind == SectionKind.RESPONDERS:
        lines += _table(["Person", "Role", "First action", "Actions"],
                        [[r.user.name, ", ".join(r.roles), _utc(r.first_at), r.actions] for r in doc.responders])
    elif kind == SectionKind.TIMELINE:
        lines += _table(["Milestone", "Time"], [[label, _utc(at)] for label, at in doc.milestones])
        lines += _table(["Duration", "Length"], [[f.label, f.value] for f in doc.durations])
        lines += _table(["Time (UTC)", "Tag", "Who", "What"],
                        [[_utc(e.at, "%Y-%m-%d %H:%M:%S"),
                          ("★ " if e.starred else "") + facts.tag_label(e.tag),
                          e.actor_label, f"{facts.kind_label(e.kind)}: {e.text}" if e.text else facts.kind_label(e.kind)]
                         for e in doc.events])
        lines += ["**Communication log**", ""]
        if doc.communications:
            lines += _table(["Time", "Channel", "To", "Message", "Status"],
                            [[_utc(c.at), c.channel, c.to, c.subject or c.body, c.status] for c in doc.communications])
        else:
            lines += ["No status updates were sent.", ""]
    elif kind == SectionKind.FACTORS:
        lines += [f"- **{f.category.name}**: {_cell(f.description)}" for f in doc.factors] or ["None recorded."]
        lines.append("")
    elif kind == SectionKind.RCA:
        lines += ["### 5 Whys", ""]
        lines += (_whys_md(doc.whys) or ["Not done yet."]) + [""]
        lines += ["### Fishbone", "", f"Problem: {doc.pm.problem_statement or doc.incident.title}", ""]
        lines += [f"- **{name}**: " + ("; ".join(c.text for c in causes) if causes else "—")
                  for name, causes in doc.fishbone] + [""]
    elif kind == SectionKind.ACTION_ITEMS:
        if doc.action_items:
            lines += _table(["Ref", "Action", "Owner", "Due", "Priority", "Type", "Status", "Ticket"],
                            [[i.ref, i.title, i.owner.name if i.owner else "unassigned", i.due_on.isoformat(),
                              i.priority.label, i.kind.label,
                              i.status.label + (f" ({i.done_at:%Y-%m-%d})" if i.done_at else "")
                              + (f": {i.wont_do_reason}" if i.wont_do_reason else ""), i.ticket_url]
                             for i in doc.action_items])
        else:
            lines += ["No action items yet.", ""]
    return lines


def markdown(pm: Postmortem, doc: Document | None = None) -> str:
    doc = doc or gather(pm)
    incident = doc.incident
    status = pm.status.label + (f" {_utc(pm.published_at, '%Y-%m-%d')}" if pm.published_at else "")
    reviewers = ", ".join(r.user.name + (f" (approved {_utc(r.approved_at, '%Y-%m-%d')})" if r.approved_at else "")
                          for r in pm.reviewers) or "—"
    lines = [f"# Post-mortem: {pm.title}", ""]
    lines += [f"- **{label}**: {value}" for label, value in [
        ("Incident", f"#{incident.id} {incident.title} ({levels.name(incident.severity)}, {incident.service.name})"),
        ("Status", status),
        ("Owner", pm.owner.name if pm.owner else "—"),
        ("Due", pm.due_on.isoformat() if pm.due_on else "—"),
        ("Template", pm.template_name),
        ("Reviewers", reviewers),
        ("Tags", ", ".join(pm.tag_list) or "—"),
    ]] + [""]
    lines += ["*This review is blameless: it is about systems and decisions, not people.*", ""]
    for section in pm.sections:
        lines += [f"## {section.heading}", ""]
        if section.body.strip():
            lines += [section.body.strip(), ""]
        lines += _section_data(doc, section.kind)
    if pm.public_summary:
        lines += ["## Public summary", "", pm.public_summary.strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


# --- the review meeting's agenda --------------------------------------------------------------

@dataclass
class AgendaItem:
    title: str
    minutes: int
    points: list[str]


def agenda(pm: Postmortem, doc: Document | None = None) -> list[AgendaItem]:
    """The meeting as the seed's post-mortem meeting runs: ground rules, a walk
    through the timeline, the analysis, the action items, the lessons."""
    doc = doc or gather(pm)
    moments = [e for e in doc.events if e.starred or e.tag] or [e for e in doc.events if e.kind not in facts.PAGING_KINDS]
    timeline_points = [f"{_utc(e.at, '%H:%M')} UTC — {facts.tag_label(e.tag) + ': ' if e.tag else ''}"
                       f"{e.text or facts.kind_label(e.kind)}" for e in moments[:15]]
    spans = {f.label: f.value for f in doc.durations}
    timeline_points.insert(0, f"Detected after {spans['Time to detect']}, acknowledged after "
                              f"{spans['Time to acknowledge']}, resolved after {spans['Time to resolve']}.")

    def roots(trees):
        found = []
        for tree in trees:
            if tree.node.root_cause or (not tree.children and tree.node.because):
                found.append(f"Root cause: {tree.node.because or tree.node.why}")
            found += roots(tree.children)
        return found
    analysis = roots(doc.whys)
    analysis += [f"{name}: {len(causes)} cause{'s' if len(causes) != 1 else ''} on the fishbone"
                 for name, causes in doc.fishbone if causes]
    analysis += [f"Contributing factor ({f.category.name}): {f.description}" for f in doc.factors]
    analysis = analysis or ["Work through the 5 Whys and the fishbone together."]
    open_items = [i for i in doc.action_items if not i.status.is_closed]
    items = [f"{i.ref} {i.title} — {i.owner.name if i.owner else 'needs an owner'}, due {i.due_on.isoformat()}"
             for i in open_items]
    items.append("Agree an owner and a due date for every change; record the ones still missing.")
    lessons_section = pm.section_of(SectionKind.LESSONS)
    lessons = [line.strip("-* ").strip() for line in (lessons_section.body if lessons_section else "").splitlines()
               if line.strip()][:8] or ["What should the next responder know? Write it in Lessons learned."]
    return [
        AgendaItem("Welcome and ground rules", 5, [
            "This review is blameless: we look at systems and decisions, not at people.",
            f"Goal: agree what happened in #{doc.incident.id} and what we change."]),
        AgendaItem("Timeline walk-through", 15, timeline_points),
        AgendaItem("Analysis: root causes and contributing factors", 20, analysis),
        AgendaItem("Action items", 15, items),
        AgendaItem("Lessons learned", 5, lessons),
    ]


def agenda_text(pm: Postmortem) -> str:
    lines = ["Agenda", ""]
    for number, item in enumerate(agenda(pm), 1):
        lines.append(f"{number}. {item.title} ({item.minutes} min)")
        lines += [f"   - {point}" for point in item.points]
    return "\n".join(lines) + "\n"


def filename(pm: Postmortem, extension: str) -> str:
    return f"postmortem-incident-{pm.incident_id}.{extension}"
