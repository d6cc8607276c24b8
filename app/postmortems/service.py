"""The post-mortem of an incident: its draft, its analysis, its review, its publication.

Plain functions with an explicit actor and time; the caller commits once. Each
change writes its audit entry (object: the post-mortem) and re-indexes the
incident for search, in the same transaction. A published post-mortem is
read-only until someone reopens it; the moments that matter (created, submitted,
published, reopened) keep a whole Markdown copy as a version.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth.models import Role, User
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents.models import EventTag, Incident, IncidentEvent, Status
from app.incidents.timeline import touch as touch_incident
from app.links import external_url
from app.notify.models import Channel
from app.notify.outbox import enqueue
from app.postmortems import defaults, facts, policy, search
from app.postmortems.models import (
    FISHBONE_CATEGORIES, Comment, ContributingFactor, FactorCategory, FishboneCause, Postmortem, PostmortemSection,
    PostmortemStatus, PostmortemTemplate, Reviewer, SectionKind, TemplateSection, Version, WhyNode,
)

MAX_TEXT = 50_000
MAX_LINE = 300
MAX_WHY_DEPTH = 12
MAX_TAGS = 12


# --- who may -----------------------------------------------------------------------------

def _may_edit(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders work on post-mortems.")


def _may_configure(actor: Actor) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only admins change templates and categories.")


def _is_owner_or_admin(actor: Actor, pm: Postmortem) -> bool:
    return actor.can(Role.ADMIN) or (actor.user is not None and actor.user.id == pm.owner_id)


def _editable(actor: Actor, pm: Postmortem) -> None:
    _may_edit(actor)
    if pm.is_published:
        raise Conflict("This post-mortem is published and read-only; reopen it to change it.")


def _audit(actor: Actor, action: str, pm: Postmortem, summary: str, before=None, after=None) -> None:
    audit.record(actor, f"postmortem.{action}", pm, summary=f"Post-mortem of #{pm.incident_id}: {summary}",
                 before=before, after=after)


def _changed(pm: Postmortem, now: datetime) -> None:
    pm.updated_at = now
    pm.version = (pm.version or 0) + 1
    search.refresh(pm.incident)


def _text(value: str | None, field: str, *, limit: int = MAX_TEXT, required: str | None = None) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(required, field)
    if len(value) > limit:
        raise DomainError(f"Keep it under {limit:,} characters.", field)
    return value


# --- templates and categories -------------------------------------------------------------

def ensure_defaults() -> None:
    """Add the shipped templates and factor categories that are missing (by key and
    name). Migration 0007 adds them to a new database; this restores them."""
    have = set(db.session.scalars(sa.select(PostmortemTemplate.key)))
    for spec in defaults.TEMPLATES:
        if spec["key"] in have:
            continue
        template = PostmortemTemplate(key=spec["key"], name=spec["name"], description=spec["description"])
        template.sections = [TemplateSection(position=i, heading=h, kind=k, guidance=g)
                             for i, (h, k, g) in enumerate(spec["sections"])]
        db.session.add(template)
    names = set(db.session.scalars(sa.select(FactorCategory.name)))
    for position, (name, description) in enumerate(defaults.FACTOR_CATEGORIES):
        if name not in names:
            db.session.add(FactorCategory(name=name, description=description, position=position))
    db.session.flush()


def active_templates() -> list[PostmortemTemplate]:
    return db.session.scalars(sa.select(PostmortemTemplate).where(PostmortemTemplate.active.is_(True))
                              .order_by(PostmortemTemplate.id)).all()


def template_by_key(key: str) -> PostmortemTemplate | None:
    return db.session.scalar(sa.select(PostmortemTemplate).where(PostmortemTemplate.key == key))


def proposed_template(severity: int) -> PostmortemTemplate | None:
    """The template the severity proposes, else the first active one."""
    template = template_by_key(policy.for_severity(severity).template_key)
    if template is None or not template.active:
        ensure_defaults()
        template = template_by_key(policy.for_severity(severity).template_key)
    if template is not None and template.active:
        return template
    templates = active_templates()
    return templates[0] if templates else None


SECTION_LINE = re.compile(r"^##\s+(?P<heading>.+?)\s*(?:\[(?P<kind>[a-z_]+)\])?\s*$")


def sections_as_text(sections) -> str:
    """A template's sections as the text admins edit: `## Heading [kind]`, then guidance."""
    blocks = []
    for section in sections:
        kind = f" [{section.kind.value}]" if section.kind != SectionKind.TEXT else ""
        blocks.append(f"## {section.heading}{kind}\n{section.guidance}".rstrip())
    return "\n\n".join(blocks) + "\n"


def parse_sections(text: str) -> list[tuple[str, SectionKind, str]]:
    """The inverse of `sections_as_text`. Unknown kinds are an error, not a guess."""
    sections: list[list] = []
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        match = SECTION_LINE.match(line)
        if match:
            kind = match.group("kind") or "text"
            try:
                section_kind = SectionKind(kind)
            except ValueError:
                known = ", ".join(k.value for k in SectionKind)
                raise DomainError(f"“{kind}” is not a section kind (use one of: {known}).", "sections") from None
            heading = match.group("heading").strip()
            if len(heading) > 200:
                raise DomainError("Keep section headings under 200 characters.", "sections")
            sections.append([heading, section_kind, []])
        elif sections:
            sections[-1][2].append(line)
        elif line.strip():
            raise DomainError("Start with a section heading: a line such as “## What happened”.", "sections")
    if not sections:
        raise DomainError("A template needs at least one section (“## Heading”).", "sections")
    return [(heading, kind, "\n".join(lines).strip()) for heading, kind, lines in sections]


def save_template(actor: Actor, template: PostmortemTemplate | None, *, name: str, description: str,
                  sections_text: str, active: bool, now: datetime) -> PostmortemTemplate:
    """Create (template None) or change a template. Post-mortems already made from it
    keep their own copy of its sections."""
    _may_configure(actor)
    name = _text(name, "name", limit=120, required="Give the template a name.")
    parsed = parse_sections(sections_text)
    clash = db.session.scalar(sa.select(PostmortemTemplate.id).where(PostmortemTemplate.name == name))
    if clash is not None and (template is None or clash != template.id):
        raise Conflict("Another template has that name.", "name")
    creating = template is None
    if creating:
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32] or "template"
        while template_by_key(key) is not None:
            key = f"{key[:30]}_{now.microsecond % 100}"
        template = PostmortemTemplate(key=key, created_at=now)
        db.session.add(template)
    before = None if creating else {"name": template.name, "sections": sections_as_text(template.sections)}
    template.name, template.description, template.active, template.updated_at = name, description or "", active, now
    template.sections = [TemplateSection(position=i, heading=h, kind=k, guidance=g)
                         for i, (h, k, g) in enumerate(parsed)]
    db.session.flush()
    audit.record(actor, "postmortem_template.create" if creating else "postmortem_template.update", template,
                 summary=f"{'Added' if creating else 'Changed'} post-mortem template {name}", before=before,
                 after={"name": name, "sections": sections_as_text(template.sections), "active": active})
    return template


def factor_categories(*, include_inactive: bool = False) -> list[FactorCategory]:
    stmt = sa.select(FactorCategory).order_by(FactorCategory.position, FactorCategory.name)
    if not include_inactive:
        stmt = stmt.where(FactorCategory.active.is_(True))
    return db.session.scalars(stmt).all()


def add_factor_category(actor: Actor, *, name: str, description: str = "", now: datetime) -> FactorCategory:
    _may_configure(actor)
    name = _text(name, "name", limit=80, required="Name the category.")
    if db.session.scalar(sa.select(FactorCategory.id).where(sa.func.lower(FactorCategory.name) == name.lower())):
        raise Conflict("That category exists.", "name")
    position = (db.session.scalar(sa.select(sa.func.max(FactorCategory.position))) or 0) + 1
    category = FactorCategory(name=name, description=(description or "").strip(), position=position)
    db.session.add(category)
    db.session.flush()
    audit.record(actor, "factor_category.create", category, summary=f"Added contributing factor category {name}")
    return category


def set_factor_category_active(actor: Actor, category: FactorCategory, active: bool) -> None:
    _may_configure(actor)
    if category.active == active:
        return
    category.active = active
    audit.record(actor, "factor_category.update", category,
                 summary=f"{'Restored' if active else 'Retired'} contributing factor category {category.name}",
                 before={"active": not active}, after={"active": active})


# --- creating the draft ---------------------------------------------------------------------

def get_postmortem(postmortem_id: int) -> Postmortem:
    pm = db.session.get(Postmortem, postmortem_id)
    if pm is None:
        raise NotFound(f"There is no post-mortem {postmortem_id}.")
    return pm


def for_incident(incident: Incident) -> Postmortem | None:
    return db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == incident.id))


def default_owner(incident: Incident) -> User | None:
    """Who writes it: the incident commander if one is recorded, else whoever
    resolved, acknowledged or declared it (people, not the engine)."""
    commander = facts.commander_of(incident)
    if commander is not None and commander.active:
        return commander
    for person in (incident.resolved_by, incident.acknowledged_by, incident.declared_by):
        if person is not None and person.active:
            return person
    return None


def create_postmortem(actor: Actor, incident: Incident, now: datetime, *, template: PostmortemTemplate | None = None,
                      owner: User | None = None, reason: str = "Draft created") -> Postmortem:
    """The draft, from `template` (default: the one the severity proposes), owned by
    `owner` (default: `default_owner`), due in five business days."""
    _may_edit(actor)
    if for_incident(incident) is not None:
        raise Conflict(f"Incident #{incident.id} already has a post-mortem.")
    if incident.merged_into_id:
        raise Conflict(f"#{incident.id} was merged into #{incident.merged_into_id}: review that one.")
    template = template or proposed_template(incident.severity)
    if template is None:
        raise DomainError("There is no post-mortem template to start from; an admin can add one.", "template_id")
    rule = policy.for_severity(incident.severity)
    owner = owner or default_owner(incident)
    pm = Postmortem(
        incident=incident, incident_id=incident.id, template=template, template_name=template.name,
        title=incident.title, status=PostmortemStatus.DRAFT, required=rule.required,
        owner=owner, owner_id=owner.id if owner else None, due_on=policy.due_on(now.date()),
        problem_statement=incident.title, created_at=now, updated_at=now, version=1,
        sections=[PostmortemSection(position=s.position, heading=s.heading, guidance=s.guidance, kind=s.kind, body="")
                  for s in template.sections],
    )
    db.session.add(pm)
    db.session.flush()
    _audit(actor, "create", pm, f"draft from the {template.name} template"
           + (f", owned by {owner.name}" if owner else "") + f", due {pm.due_on.isoformat()}",
           after={"template": template.name, "owner_id": pm.owner_id, "due_on": pm.due_on.isoformat()})
    search.refresh(incident)
    _keep_version(actor, pm, reason, now)
    return pm


def follow_up(incident: Incident, now: datetime) -> Postmortem | None:
    """The engine's follow-up of a resolution (`Incident.followup_at`, set by
    `incidents.resolve`): a severity that requires a post-mortem gets its draft
    (once; reopening and resolving again keeps the first), and the incident is
    re-indexed for search with its resolution. Nothing when it was reopened since:
    its next resolution asks again. The draft is made by whoever resolved it, if they
    may edit post-mortems, else by Firebreak, as of the resolution (its due date counts
    from then, however late the engine comes to it)."""
    owed = draft_owed(incident)
    incident.followup_at = None
    if incident.status != Status.RESOLVED:
        return None
    if owed and for_incident(incident) is None:
        template = proposed_template(incident.severity)
        if template is not None:  # every template retired: no draft, and nothing fails for it
            resolver = incident.resolved_by
            actor = Actor.for_user(resolver) if resolver is not None and resolver.can(Role.RESPONDER) else Actor.system()
            pm = create_postmortem(actor, incident, incident.resolved_at or now, template=template)
            touch_incident(incident, now)  # pages open on the incident show the draft
            return pm
    search.refresh(incident)
    return None


def draft_owed(incident: Incident) -> bool:
    """Whether the engine's follow-up of this incident's resolution is still to make
    its post-mortem draft (the incident page says one is on its way)."""
    return (incident.followup_at is not None and incident.status == Status.RESOLVED
            and policy.for_severity(incident.severity).required and not incident.merged_into_id
            and not incident.is_exercise)


def change_template(actor: Actor, pm: Postmortem, template: PostmortemTemplate, now: datetime) -> None:
    """Switch a draft to another template. Text already written under a heading the
    new template also has is kept; other text moves to the end, so nothing is lost."""
    _editable(actor, pm)
    if pm.status != PostmortemStatus.DRAFT:
        raise Conflict("Only a draft can change its template.")
    if template.id == pm.template_id:
        return
    written = {s.heading.lower(): s for s in pm.sections if s.body.strip()}
    sections = []
    for s in template.sections:
        old = written.pop(s.heading.lower(), None)
        sections.append(PostmortemSection(position=s.position, heading=s.heading, guidance=s.guidance, kind=s.kind,
                                          body=old.body if old else ""))
    for old in written.values():
        sections.append(PostmortemSection(position=len(sections), heading=old.heading, guidance="", kind=SectionKind.TEXT,
                                          body=old.body))
    # Comments on the old sections stay, as comments on the whole post-mortem that say
    # which section they were about: the review's history is not thrown away.
    for comment in db.session.scalars(sa.select(Comment).where(Comment.postmortem_id == pm.id,
                                                               Comment.section_id.isnot(None))):
        comment.body = f"(On “{comment.section.heading}”) {comment.body}"
        comment.section_id, comment.section = None, None
    db.session.flush()
    before = pm.template_name
    pm.sections = sections
    pm.template, pm.template_name = template, template.name
    _changed(pm, now)
    _audit(actor, "template", pm, f"template {before} → {template.name}", before={"template": before},
           after={"template": template.name})


# --- writing ---------------------------------------------------------------------------------

def update_section(actor: Actor, pm: Postmortem, section: PostmortemSection, body: str, now: datetime) -> bool:
    _editable(actor, pm)
    if section.postmortem_id != pm.id:
        raise NotFound("That section is not part of this post-mortem.")
    body = _text(body, "body")
    if body == (section.body or ""):
        return False
    section.body, section.updated_at, section.updated_by = body, now, actor.label[:200]
    _changed(pm, now)
    _audit(actor, "section", pm, f"“{section.heading}” edited", after={"section": section.heading,
                                                                         "length": len(body)})
    return True


def clean_tags(raw: str | list[str] | None) -> str:
    parts = raw if isinstance(raw, list) else re.split(r"[,\s]+", raw or "")
    tags: list[str] = []
    for part in parts:
        tag = search.normalise_tag(part)
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise DomainError(f"At most {MAX_TAGS} tags.", "tags")
    return ",".join(tags)


DETAIL_FIELDS = ("title", "owner_id", "due_on", "problem_statement", "customers_affected", "cost", "tags")


def update_details(actor: Actor, pm: Postmortem, now: datetime, **values) -> dict:
    """Title, owner, due date, problem statement, impact estimates, tags. Returns what changed."""
    _editable(actor, pm)
    unknown = set(values) - set(DETAIL_FIELDS)
    if unknown:
        raise DomainError(f"Unknown field {sorted(unknown)[0]}.")
    if "title" in values:
        values["title"] = _text(values["title"], "title", limit=1024, required="Give it a title.")
    if "owner_id" in values and values["owner_id"] is not None:
        owner = db.session.get(User, values["owner_id"])
        if owner is None or not owner.active or not owner.can(Role.RESPONDER):
            raise DomainError("The owner must be an active responder.", "owner_id")
    for name in ("customers_affected", "cost"):
        if name in values:
            values[name] = _text(values[name], name, limit=300)
    if "problem_statement" in values:
        values["problem_statement"] = _text(values["problem_statement"], "problem_statement", limit=2000)
    if "tags" in values:
        values["tags"] = clean_tags(values["tags"])
    if "due_on" in values and values["due_on"] is None:
        raise DomainError("Give it a due date.", "due_on")
    changed = {name: (getattr(pm, name), value) for name, value in values.items() if getattr(pm, name) != value}
    if not changed:
        return {}
    for name, (_, value) in changed.items():
        setattr(pm, name, value)
    _changed(pm, now)
    before = {k: old for k, (old, _) in changed.items()}
    after = {k: new for k, (_, new) in changed.items()}
    _audit(actor, "details", pm, "changed " + ", ".join(k.replace("_id", "").replace("_", " ") for k in changed),
           before=before, after=after)
    return changed


def tag_event(actor: Actor, event: IncidentEvent, now: datetime, *, tag: str | None = None,
              starred: bool | None = None) -> bool:
    """Tag a timeline entry (Detection, Diagnosis, Repair, Key moment; "" clears) and
    star it for the summary. The tag belongs to the incident's timeline."""
    _may_edit(actor)
    incident = event.incident
    pm = for_incident(incident)
    if pm is not None and pm.is_published:
        raise Conflict("The post-mortem is published; reopen it to change the timeline's tags.")
    new_tag = event.tag
    if tag is not None:
        if tag and tag not in {t.value for t in EventTag}:
            raise DomainError("Tag as Detection, Diagnosis, Repair or Key moment.", "tag")
        new_tag = tag or None
    new_star = event.starred if starred is None else bool(starred)
    if new_tag == event.tag and new_star == event.starred:
        return False
    before = {"tag": event.tag, "starred": event.starred}
    event.tag, event.starred = new_tag, new_star
    touch_incident(incident, now)
    if pm is not None:
        pm.updated_at, pm.version = now, pm.version + 1
    audit.record(actor, "incident.timeline_tag", incident,
                 summary=f"#{incident.id} timeline entry {event.id} "
                         f"{facts.tag_label(new_tag) or 'untagged'}{', starred' if new_star else ''}",
                 before=before, after={"tag": new_tag, "starred": new_star, "event_id": event.id})
    return True


# --- root-cause analysis ------------------------------------------------------------------

def get_why(pm: Postmortem, why_id: int) -> WhyNode:
    node = db.session.get(WhyNode, why_id)
    if node is None or node.postmortem_id != pm.id:
        raise NotFound("That why is not part of this post-mortem.")
    return node


def whys(pm: Postmortem) -> list[WhyNode]:
    return db.session.scalars(sa.select(WhyNode).where(WhyNode.postmortem_id == pm.id)
                              .order_by(WhyNode.position, WhyNode.id)).all()


@dataclass
class WhyTree:
    node: WhyNode
    children: list["WhyTree"]
    depth: int


def why_tree(pm: Postmortem) -> list[WhyTree]:
    """The 5 Whys as trees: each root a first "why", each child a why of its parent's answer."""
    nodes = whys(pm)
    children: dict[int | None, list[WhyNode]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)

    def build(node: WhyNode, depth: int) -> WhyTree:
        return WhyTree(node, [build(child, depth + 1) for child in children.get(node.id, [])], depth)
    return [build(root, 1) for root in children.get(None, [])]


def _depth(node: WhyNode) -> int:
    depth = 1
    while node.parent_id is not None:
        node = db.session.get(WhyNode, node.parent_id)
        depth += 1
    return depth


def add_why(actor: Actor, pm: Postmortem, now: datetime, *, why: str, because: str = "",
            parent: WhyNode | None = None) -> WhyNode:
    """A why under `parent` (asking why of its answer), or a new first why."""
    _editable(actor, pm)
    why = _text(why, "why", limit=2000, required="Ask the question: why …?")
    because = _text(because, "because", limit=2000)
    if parent is not None:
        if parent.postmortem_id != pm.id:
            raise NotFound("That why is not part of this post-mortem.")
        if _depth(parent) >= MAX_WHY_DEPTH:
            raise DomainError(f"{MAX_WHY_DEPTH} whys deep is enough: mark the root cause.", "why")
    siblings = WhyNode.parent_id == parent.id if parent else WhyNode.parent_id.is_(None)
    position = db.session.scalar(sa.select(sa.func.count()).select_from(WhyNode)
                                 .where(WhyNode.postmortem_id == pm.id, siblings))
    node = WhyNode(postmortem_id=pm.id, parent_id=parent.id if parent else None, why=why, because=because,
                   position=position, created_at=now)
    db.session.add(node)
    db.session.flush()
    _changed(pm, now)
    _audit(actor, "why_added", pm, f"why: {why[:120]}", after={"why": why, "because": because,
                                                                "parent_id": node.parent_id})
    return node


def update_why(actor: Actor, pm: Postmortem, node: WhyNode, now: datetime, *, why: str, because: str,
               root_cause: bool) -> bool:
    _editable(actor, pm)
    why = _text(why, "why", limit=2000, required="Ask the question: why …?")
    because = _text(because, "because", limit=2000)
    if (why, because, bool(root_cause)) == (node.why, node.because, node.root_cause):
        return False
    before = {"why": node.why, "because": node.because, "root_cause": node.root_cause}
    node.why, node.because, node.root_cause = why, because, bool(root_cause)
    _changed(pm, now)
    _audit(actor, "why_changed", pm, f"why: {why[:120]}", before=before,
           after={"why": why, "because": because, "root_cause": node.root_cause})
    return True


def delete_why(actor: Actor, pm: Postmortem, node: WhyNode, now: datetime) -> None:
    """Remove a why and every why below it."""
    _editable(actor, pm)
    doomed, frontier = [node.id], [node.id]
    while frontier:
        frontier = db.session.scalars(sa.select(WhyNode.id).where(WhyNode.parent_id.in_(frontier))).all()
        doomed += frontier
    db.session.execute(sa.delete(WhyNode).where(WhyNode.id.in_(doomed)))
    db.session.expire_all()
    _changed(pm, now)
    _audit(actor, "why_removed", pm, f"why removed ({len(doomed)} with the ones below it)",
           before={"why": node.why, "because": node.because})


def fishbone(pm: Postmortem) -> list[tuple[str, list[FishboneCause]]]:
    """Categories in their usual order (the four standard first, then custom ones), each with its causes."""
    causes = db.session.scalars(sa.select(FishboneCause).where(FishboneCause.postmortem_id == pm.id)
                                .order_by(FishboneCause.position, FishboneCause.id)).all()
    grouped: dict[str, list[FishboneCause]] = {name: [] for name in FISHBONE_CATEGORIES}
    for cause in causes:
        grouped.setdefault(cause.category, []).append(cause)
    return list(grouped.items())


def clean_category(category: str) -> str:
    category = " ".join((category or "").split())
    if not category:
        raise DomainError("Choose or name a category.", "category")
    if len(category) > 60:
        raise DomainError("Keep a category name under 60 characters.", "category")
    for standard in FISHBONE_CATEGORIES:
        if category.lower() == standard.lower():
            return standard
    return category[0].upper() + category[1:]


def add_cause(actor: Actor, pm: Postmortem, now: datetime, *, category: str, text: str) -> FishboneCause:
    _editable(actor, pm)
    category = clean_category(category)
    text = _text(text, "text", limit=MAX_LINE, required="Say what the cause is.")
    position = db.session.scalar(sa.select(sa.func.count()).select_from(FishboneCause)
                                 .where(FishboneCause.postmortem_id == pm.id))
    cause = FishboneCause(postmortem_id=pm.id, category=category, text=text, position=position)
    db.session.add(cause)
    db.session.flush()
    _changed(pm, now)
    _audit(actor, "cause_added", pm, f"fishbone {category}: {text[:120]}", after={"category": category, "text": text})
    return cause


def delete_cause(actor: Actor, pm: Postmortem, cause: FishboneCause, now: datetime) -> None:
    _editable(actor, pm)
    if cause.postmortem_id != pm.id:
        raise NotFound("That cause is not part of this post-mortem.")
    db.session.delete(cause)
    _changed(pm, now)
    _audit(actor, "cause_removed", pm, f"fishbone {cause.category}: {cause.text[:120]} removed",
           before={"category": cause.category, "text": cause.text})


def factors(pm: Postmortem) -> list[ContributingFactor]:
    return db.session.scalars(sa.select(ContributingFactor).where(ContributingFactor.postmortem_id == pm.id)
                              .order_by(ContributingFactor.id)).all()


def add_factor(actor: Actor, pm: Postmortem, now: datetime, *, category_id: int, description: str) -> ContributingFactor:
    _editable(actor, pm)
    category = db.session.get(FactorCategory, category_id) if category_id else None
    if category is None or not category.active:
        raise DomainError("Choose a category.", "category_id")
    description = _text(description, "description", limit=2000, required="Describe the factor.")
    factor = ContributingFactor(postmortem_id=pm.id, category=category, category_id=category.id,
                                description=description, created_at=now)
    db.session.add(factor)
    db.session.flush()
    _changed(pm, now)
    _audit(actor, "factor_added", pm, f"contributing factor ({category.name}): {description[:120]}",
           after={"category": category.name, "description": description})
    return factor


def delete_factor(actor: Actor, pm: Postmortem, factor: ContributingFactor, now: datetime) -> None:
    _editable(actor, pm)
    if factor.postmortem_id != pm.id:
        raise NotFound("That factor is not part of this post-mortem.")
    db.session.delete(factor)
    _changed(pm, now)
    _audit(actor, "factor_removed", pm, f"contributing factor ({factor.category.name}) removed",
           before={"category": factor.category.name, "description": factor.description})


def factor_counts(since: datetime | None = None) -> list[tuple[str, int]]:
    """How often each category contributed, across post-mortems (the insights domain reads this)."""
    stmt = (sa.select(FactorCategory.name, sa.func.count(ContributingFactor.id))
            .join(ContributingFactor, ContributingFactor.category_id == FactorCategory.id)
            .group_by(FactorCategory.name).order_by(sa.func.count(ContributingFactor.id).desc(), FactorCategory.name))
    if since is not None:
        stmt = stmt.where(ContributingFactor.created_at >= since)
    return [(name, n) for name, n in db.session.execute(stmt)]


# --- review ----------------------------------------------------------------------------------

def _link(pm: Postmortem) -> str:
    return external_url("postmortems.show", postmortem_id=pm.id)


def _ask_to_review(actor: Actor, pm: Postmortem, user: User, now: datetime) -> None:
    enqueue(key=f"pm-review:{pm.id}:{user.id}:{int(now.timestamp())}", purpose="review", channel=Channel.EMAIL,
            to_address=user.email, user_id=user.id, incident_id=pm.incident_id, due=now, now=now,
            subject=f"Please review the post-mortem of #{pm.incident_id}: {pm.title}"[:255],
            body=(f"{actor.label} asks you to review the post-mortem of incident #{pm.incident_id}, "
                  f"“{pm.title}”.\n\nRead it, comment on its sections, and approve it when it is right:\n"
                  f"{_link(pm)}\n"
                  + (f"\nIt is due {pm.due_on:%A %d %B}.\n" if pm.due_on else "")))


def _reviewer_candidates(users: list[User], pm: Postmortem) -> list[User]:
    chosen = []
    for user in users:
        if user is None or not user.active or not user.can(Role.RESPONDER):
            raise DomainError("Reviewers must be active responders.", "reviewers")
        if user.id == pm.owner_id:
            raise DomainError(f"{user.name} owns this post-mortem; ask someone else to review it.", "reviewers")
        if user not in chosen:
            chosen.append(user)
    return chosen


def add_reviewers(actor: Actor, pm: Postmortem, users: list[User], now: datetime) -> list[Reviewer]:
    """Ask people to review; each new reviewer gets an email (through the outbox)
    once the post-mortem is in review."""
    _editable(actor, pm)
    existing = {r.user_id for r in pm.reviewers}
    added = []
    for user in _reviewer_candidates(users, pm):
        if user.id in existing:
            continue
        reviewer = Reviewer(postmortem=pm, user=user, user_id=user.id, requested_at=now)
        db.session.add(reviewer)
        added.append(reviewer)
        if pm.status == PostmortemStatus.IN_REVIEW:
            _ask_to_review(actor, pm, user, now)
    if added:
        db.session.flush()
        _changed(pm, now)
        _audit(actor, "reviewers", pm, "review asked of " + ", ".join(r.user.name for r in added),
               after={"reviewers": [r.user_id for r in added]})
    return added


def remove_reviewer(actor: Actor, pm: Postmortem, reviewer: Reviewer, now: datetime) -> None:
    _editable(actor, pm)
    if reviewer.postmortem_id != pm.id:
        raise NotFound("Not a reviewer of this post-mortem.")
    name = reviewer.user.name
    pm.reviewers.remove(reviewer)
    _changed(pm, now)
    _audit(actor, "reviewer_removed", pm, f"{name} no longer reviews", before={"reviewer": reviewer.user_id})


def submit_for_review(actor: Actor, pm: Postmortem, now: datetime, *, reviewers: list[User] = ()) -> None:
    """Draft → in review: every reviewer is asked by email."""
    _editable(actor, pm)
    if pm.status != PostmortemStatus.DRAFT:
        raise Conflict("Only a draft can go to review.")
    if reviewers:
        add_reviewers(actor, pm, list(reviewers), now)
    if not pm.reviewers:
        raise DomainError("Ask at least one reviewer first.", "reviewers")
    pm.status, pm.submitted_at = PostmortemStatus.IN_REVIEW, now
    for reviewer in pm.reviewers:
        reviewer.approved_at = None
        _ask_to_review(actor, pm, reviewer.user, now)
    _changed(pm, now)
    _audit(actor, "submit", pm, "sent for review to " + ", ".join(r.user.name for r in pm.reviewers),
           before={"status": "draft"}, after={"status": "in_review"})
    _keep_version(actor, pm, "Sent for review", now)


def approve(actor: Actor, pm: Postmortem, now: datetime) -> Reviewer:
    _may_edit(actor)
    if pm.status != PostmortemStatus.IN_REVIEW:
        raise Conflict("Only a post-mortem in review can be approved.")
    reviewer = next((r for r in pm.reviewers if actor.user and r.user_id == actor.user.id), None)
    if reviewer is None:
        raise Forbidden("Only the people asked to review it approve it.")
    if reviewer.approved_at is None:
        reviewer.approved_at = now
        _changed(pm, now)
        _audit(actor, "approve", pm, f"approved by {actor.label}", after={"reviewer": reviewer.user_id})
    return reviewer


def request_changes(actor: Actor, pm: Postmortem, now: datetime, *, reason: str = "") -> None:
    """In review → draft, approvals cleared; the reason goes in as a comment."""
    _may_edit(actor)
    if pm.status != PostmortemStatus.IN_REVIEW:
        raise Conflict("Only a post-mortem in review can go back to draft.")
    is_reviewer = any(actor.user and r.user_id == actor.user.id for r in pm.reviewers)
    if not (is_reviewer or _is_owner_or_admin(actor, pm)):
        raise Forbidden("Only its reviewers, its owner or an admin send it back.")
    reason = _text(reason, "reason", limit=5000)
    pm.status = PostmortemStatus.DRAFT
    for reviewer in pm.reviewers:
        reviewer.approved_at = None
    if reason:
        db.session.add(Comment(postmortem_id=pm.id, author_id=actor.user.id if actor.user else None,
                               author_label=actor.label[:200], body=f"Changes requested: {reason}", created_at=now))
    _changed(pm, now)
    _audit(actor, "changes_requested", pm, "sent back to draft" + (f": {reason[:200]}" if reason else ""),
           before={"status": "in_review"}, after={"status": "draft"})


def approvals_missing(pm: Postmortem) -> list[User]:
    return [r.user for r in pm.reviewers if r.approved_at is None]


def publish(actor: Actor, pm: Postmortem, now: datetime) -> None:
    """In review → published, once every reviewer approved. Read-only from now on."""
    _may_edit(actor)
    if pm.status != PostmortemStatus.IN_REVIEW:
        raise Conflict("Send it for review first; only a reviewed post-mortem is published.")
    if not _is_owner_or_admin(actor, pm):
        raise Forbidden("Its owner or an admin publishes it.")
    missing = approvals_missing(pm)
    if missing:
        raise Conflict("Waiting for approval from " + ", ".join(u.name for u in missing) + ".")
    pm.status, pm.published_at = PostmortemStatus.PUBLISHED, now
    pm.published_by_id = actor.user.id if actor.user else None
    _changed(pm, now)
    _audit(actor, "publish", pm, "published", before={"status": "in_review"}, after={"status": "published"})
    _keep_version(actor, pm, "Published", now)


def reopen(actor: Actor, pm: Postmortem, now: datetime, *, reason: str) -> None:
    """Published → draft, to amend it; the published text stays in the history."""
    _may_edit(actor)
    if not pm.is_published:
        raise Conflict("Only a published post-mortem is reopened.")
    if not _is_owner_or_admin(actor, pm):
        raise Forbidden("Its owner or an admin reopens it.")
    reason = _text(reason, "reason", limit=2000, required="Say why it is reopened: the history keeps it.")
    pm.status = PostmortemStatus.DRAFT
    for reviewer in pm.reviewers:
        reviewer.approved_at = None
    _changed(pm, now)
    _audit(actor, "reopen", pm, f"reopened: {reason[:200]}", before={"status": "published"},
           after={"status": "draft", "reason": reason})
    _keep_version(actor, pm, f"Reopened: {reason}"[:200], now)


def add_comment(actor: Actor, pm: Postmortem, now: datetime, *, body: str,
                section: PostmortemSection | None = None) -> Comment:
    _may_edit(actor)
    if pm.is_published:
        raise Conflict("This post-mortem is published; comments are closed.")
    if section is not None and section.postmortem_id != pm.id:
        raise NotFound("That section is not part of this post-mortem.")
    body = _text(body, "body", limit=10_000, required="The comment is empty.")
    comment = Comment(postmortem_id=pm.id, section_id=section.id if section else None,
                      author_id=actor.user.id if actor.user else None, author_label=actor.label[:200], body=body,
                      created_at=now)
    db.session.add(comment)
    db.session.flush()
    pm.updated_at, pm.version = now, pm.version + 1
    _audit(actor, "comment", pm, f"comment on “{section.heading if section else 'the whole'}”",
           after={"section": section.heading if section else None, "length": len(body)})
    return comment


def resolve_comment(actor: Actor, pm: Postmortem, comment: Comment, now: datetime) -> None:
    _may_edit(actor)
    if comment.postmortem_id != pm.id:
        raise NotFound("That comment is not on this post-mortem.")
    if comment.resolved_at is None:
        comment.resolved_at = now
        pm.updated_at, pm.version = now, pm.version + 1
        _audit(actor, "comment_resolved", pm, f"comment by {comment.author_label} resolved")


def comments(pm: Postmortem) -> list[Comment]:
    return db.session.scalars(sa.select(Comment).where(Comment.postmortem_id == pm.id)
                              .order_by(Comment.created_at, Comment.id)).all()


# --- the review meeting ---------------------------------------------------------------------

def schedule_meeting(actor: Actor, pm: Postmortem, now: datetime, *, at: datetime, location: str = "") -> None:
    """Set the review meeting; the owner and the reviewers get the time and the agenda by email."""
    _editable(actor, pm)
    if at is None:
        raise DomainError("When is the meeting?", "at")
    if at < now:
        raise DomainError("The meeting cannot be in the past.", "at")
    location = _text(location, "location", limit=500)
    if pm.meeting_at == at and pm.meeting_location == location:
        return
    pm.meeting_at, pm.meeting_location = at, location
    _changed(pm, now)
    people = ([pm.owner] if pm.owner else []) + [r.user for r in pm.reviewers if r.user_id != pm.owner_id]
    from app.postmortems.export import agenda_text  # export reads this module: imported late
    for person in people:
        enqueue(key=f"pm-meeting:{pm.id}:{person.id}:{int(at.timestamp())}", purpose="review", channel=Channel.EMAIL,
                to_address=person.email, user_id=person.id, incident_id=pm.incident_id, due=now, now=now,
                subject=f"Post-mortem review of #{pm.incident_id} on {at:%a %d %b %H:%M} UTC"[:255],
                body=(f"The review meeting for the post-mortem of #{pm.incident_id}, “{pm.title}”, is on "
                      f"{at:%A %d %B %Y at %H:%M} UTC" + (f" ({location})" if location else "") + ".\n\n"
                      + agenda_text(pm) + f"\n{_link(pm)}\n"))
    _audit(actor, "meeting", pm, f"review meeting {at:%Y-%m-%d %H:%M} UTC" + (f" at {location}" if location else ""),
           after={"at": at.isoformat(), "location": location})


# --- the public summary ----------------------------------------------------------------------

def set_public_summary(actor: Actor, pm: Postmortem, now: datetime, *, text: str, public: bool) -> None:
    """Write the customer-facing summary, and publish it to the status page (or take
    it down). Only a published post-mortem's summary goes public, and only for an
    incident that is on the status page: there it is shown with the incident and its
    subscribers hear of it (`statuspage.service.publish_postmortem`)."""
    from app.statuspage import service as status_page  # the status page reads incidents: imported late
    _may_edit(actor)
    text = _text(text, "public_summary", limit=10_000)
    if public and not text:
        raise DomainError("Write the summary before making it public.", "public_summary")
    if public and not pm.is_published:
        raise Conflict("Publish the post-mortem before its public summary.")
    if text == pm.public_summary and public == pm.public:
        return
    on_page = status_page.public_incident_for(pm.incident)
    if public and on_page is None:
        raise Conflict("This incident is not on the status page: publish it there first, or keep the summary "
                       "private.")
    if on_page is not None and (public or pm.public):  # goes up, changes while up, or comes down
        status_page.publish_postmortem(actor, pm.incident, text if public else "", now)
    before = {"public": pm.public, "length": len(pm.public_summary or "")}
    pm.public_summary = text
    if public and not pm.public:
        pm.public_at = now
    pm.public = public
    _changed(pm, now)
    _audit(actor, "public_summary", pm, "public summary " + ("published to the status page" if public else "saved"),
           before=before, after={"public": public, "length": len(text)})


# --- history ----------------------------------------------------------------------------------

def _keep_version(actor: Actor, pm: Postmortem, reason: str, now: datetime) -> Version:
    from app.postmortems.export import markdown  # export reads this module: imported late
    number = (db.session.scalar(sa.select(sa.func.max(Version.number)).where(Version.postmortem_id == pm.id)) or 0) + 1
    version = Version(postmortem_id=pm.id, number=number, at=now, actor_label=actor.label[:200], reason=reason[:200],
                      markdown=markdown(pm))
    db.session.add(version)
    db.session.flush()
    return version


def versions(pm: Postmortem) -> list[Version]:
    return db.session.scalars(sa.select(Version).where(Version.postmortem_id == pm.id)
                              .order_by(Version.number.desc())).all()


def get_version(pm: Postmortem, number: int) -> Version:
    version = db.session.scalar(sa.select(Version).where(Version.postmortem_id == pm.id, Version.number == number))
    if version is None:
        raise NotFound(f"There is no version {number}.")
    return version


def history(pm: Postmortem, limit: int = 200):
    """Every change, newest first (the audit entries of this post-mortem)."""
    return db.session.scalars(audit.query(object_type="postmortems").where(AuditEntry.object_id == pm.id)
                              .limit(limit)).all()


# --- lists ------------------------------------------------------------------------------------

def list_postmortems(*, status: str | None = None, owner_id: int | None = None) -> sa.Select:
    stmt = sa.select(Postmortem).join(Incident, Incident.id == Postmortem.incident_id)
    if status in {s.value for s in PostmortemStatus}:
        stmt = stmt.where(Postmortem.status == status)
    elif status == "open":
        stmt = stmt.where(Postmortem.status != PostmortemStatus.PUBLISHED)
    if owner_id:
        stmt = stmt.where(Postmortem.owner_id == owner_id)
    return stmt.order_by(sa.case((Postmortem.status == PostmortemStatus.PUBLISHED, 1), else_=0),
                         Postmortem.due_on, Postmortem.id.desc())


def missing_required(limit: int = 50) -> list[Incident]:
    """Resolved incidents whose severity requires a post-mortem that has none (e.g.
    severity raised after resolving); not those whose draft the engine still owes."""
    required = policy.required_severities()
    return db.session.scalars(
        sa.select(Incident).outerjoin(Postmortem, Postmortem.incident_id == Incident.id)
        .where(Postmortem.id.is_(None), Incident.status == Status.RESOLVED, Incident.severity.in_(required),
               Incident.merged_into_id.is_(None), Incident.is_exercise.is_(False), Incident.followup_at.is_(None))
        .order_by(Incident.resolved_at.desc()).limit(limit)).all()
