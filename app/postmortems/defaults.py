"""What a new installation starts with: the four templates and the factor categories.

Shipped as data (rows made by `ensure_defaults`); admins edit them afterwards.
Each section is (heading, kind, guidance).
"""
from __future__ import annotations

from app.postmortems.models import SectionKind as K

TEMPLATES: list[dict] = [
    {
        "key": "executive_summary",
        "name": "Executive summary",
        "description": "One page for leadership: what happened, customer impact, duration, cost, "
                       "and what we are doing about it.",
        "sections": [
            ("What happened", K.SUMMARY,
             "Two or three sentences a non-engineer understands. Starred timeline entries appear here."),
            ("Customer impact", K.IMPACT, "Who was affected, how, and how many. Figures from the incident are filled in."),
            ("Duration", K.MILESTONES, "From first impact to full recovery; times are taken from the incident."),
            ("Cost", K.TEXT, "Refunds, SLA credits, lost revenue, engineering time. Estimates are fine; say so."),
            ("What we are doing about it", K.ACTION_ITEMS,
             "The few changes that matter most, with owners and dates."),
        ],
    },
    {
        "key": "detailed_technical",
        "name": "Detailed technical",
        "description": "The full blameless review for SEV-1 and SEV-2 incidents.",
        "sections": [
            ("Overview", K.SUMMARY, "What happened, in a paragraph. Starred timeline entries appear here."),
            ("What happened", K.TEXT, "The story of the incident, from the first sign to recovery."),
            ("Impact", K.IMPACT, "Customers, requests, money, data. The table is filled from the incident."),
            ("Responders", K.RESPONDERS, "Everyone who acted on the incident, and in which role."),
            ("Timeline", K.TIMELINE,
             "Tag entries as Detection, Diagnosis, Repair or Key moment; star the ones that belong in the overview."),
            ("Contributing factors", K.FACTORS,
             "Everything that made the incident possible, worse or longer. Systems and processes, not people."),
            ("Root-cause analysis", K.RCA, "Ask why until the answers are about systems; a why may have several "
                                           "answers. The fishbone sorts causes by category."),
            ("Resolution", K.TEXT, "What fixed it, and how we knew it was fixed."),
            ("What went well", K.TEXT, ""),
            ("What went poorly", K.TEXT, ""),
            ("Where we got lucky", K.TEXT, "Things that went right by chance, and will not next time."),
            ("Lessons learned", K.LESSONS, "What the next responder should know. This is what search finds."),
            ("Action items", K.ACTION_ITEMS, "Detective, preventive, corrective and mitigating work, each with an "
                                             "owner and a due date."),
        ],
    },
    {
        "key": "lightweight",
        "name": "Lightweight",
        "description": "A short review for SEV-3 incidents.",
        "sections": [
            ("Summary", K.SUMMARY, "What happened and what it affected."),
            ("Timeline", K.TIMELINE, "Tag and star what mattered."),
            ("Cause", K.TEXT, "Why it happened."),
            ("Action items", K.ACTION_ITEMS, ""),
        ],
    },
    {
        "key": "quick_retrospective",
        "name": "Quick retrospective",
        "description": "Fifteen minutes after a small incident: three questions.",
        "sections": [
            ("What went well", K.TEXT, ""),
            ("What didn't", K.TEXT, ""),
            ("What we'll change", K.ACTION_ITEMS, "Each change as an action item with an owner."),
        ],
    },
]

FACTOR_CATEGORIES: list[tuple[str, str]] = [
    ("Change or deployment", "A release, migration or configuration rollout started or worsened it."),
    ("Configuration", "A setting was wrong, missing or inconsistent between environments."),
    ("Capacity", "Load, limits, quotas or resource exhaustion."),
    ("Software defect", "A bug in our code."),
    ("Dependency", "A third party, vendor or another team's service."),
    ("Infrastructure", "Hardware, network, cloud provider."),
    ("Monitoring gap", "We found out late, or from customers."),
    ("Process or runbook", "A missing, wrong or unfollowed procedure."),
    ("Communication", "Information did not reach the people who needed it."),
    ("Knowledge", "The people on hand lacked training, documentation or access."),
]
