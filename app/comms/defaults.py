"""What ships: a template for every audience, and a communication plan per severity.

Shipped as data here; an admin's edit is a row (`comms_templates`, `comms_plans`)
that replaces the shipped one with the same key or severity, and "restore"
deletes the row. So a new or emptied database always has every template.
Templates use the fields in app/comms/render.py (`{{ title }}`, `{{ impact }}`, …).
"""
from __future__ import annotations

# key → label, and whether the audience is outside the company.
AUDIENCES = {
    "internal_technical": ("Internal technical", False),
    "management": ("Management", False),
    "resolution": ("Resolution notice", False),
    "customer": ("Customers", True),
    "partner": ("Partners", True),
    "regulatory": ("Regulators", True),
    "social": ("Social media", True),
    "press": ("Press", True),
}

TEMPLATES = [
    {
        "key": "internal_technical", "name": "Internal technical update", "audience": "internal_technical",
        "description": "For engineering and support: what is broken, what we know, what we are doing, what we need.",
        "subject": "[{{ severity }} {{ ref }}] {{ title }} — {{ stage_label }}",
        "body": """{{ severity }} incident {{ ref }} on {{ service }}: {{ title }}
Status: {{ stage_label }} (incident {{ status }}) · started {{ started_at }} · {{ duration }} so far

Current status: {{ summary }}
Impact: {{ impact }}
{% if conditions %}
Conditions: {{ conditions }}
{% endif %}
{% if actions %}
Actions: {{ actions }}
{% endif %}
{% if needs %}
Needs: {{ needs }}
{% endif %}

Commander: {{ commander or "not assigned yet" }} · Technical lead: {{ technical_lead or "not assigned yet" }}
War room: {{ url }}
{% if next_update_at %}Next update by {{ next_update_at }}.{% endif %}""",
    },
    {
        "key": "management", "name": "Management update", "audience": "management",
        "description": "For leaders: business impact, progress and decisions, without the technical detail.",
        "subject": "{{ severity }} incident: {{ title }} — {{ stage_label }}",
        "body": """Summary: {{ executive_summary or summary }}

Customer impact: {{ impact }}
Severity: {{ severity }} ({{ severity_label }}) · since {{ started_at }} ({{ duration }})
Where we are: {{ stage_label }}
{% if needs %}What we need from you: {{ needs }}
{% endif %}
Incident commander: {{ commander or "being assigned" }}
{% if next_update_at %}Next update by {{ next_update_at }}.{% endif %}""",
    },
    {
        "key": "resolution", "name": "Resolution notice", "audience": "resolution",
        "description": "For everyone told during the incident: it is over, how long it lasted, what comes next.",
        "subject": "Resolved: {{ title }} ({{ severity }} {{ ref }})",
        "body": """{{ severity }} incident {{ ref }} on {{ service }} is resolved.

What happened: {{ title }}
Impact: {{ impact }}
Started {{ started_at }}; resolved {{ resolved_at or now }} ({{ duration }}).
{% if executive_summary %}
{{ executive_summary }}
{% endif %}

A post-mortem will follow with what we learned and what we will change.
Thank you to everyone who helped{% if commander %}, and to {{ commander }} for leading the response{% endif %}.""",
    },
    {
        "key": "customer_notice", "name": "Customer notice", "audience": "customer",
        "description": "For customers (the status page, support replies): plain words, no internal detail.",
        "subject": "{{ service }}: {{ stage_label }}",
        "body": """{% if stage == "resolved" %}This issue is resolved. {{ impact }} Everything has worked normally since {{ resolved_at or now }}. We are sorry for the disruption.
{% elif stage == "monitoring" %}A fix is in place and we are watching the results. {{ impact }}
{% elif stage == "identified" %}We have found the cause and are working on a fix. {{ impact }}
{% else %}We are investigating an issue. {{ impact }}
{% endif %}
{% if stage != "resolved" and next_update_at %}We will post another update by {{ next_update_at }}.{% endif %}""",
    },
    {
        "key": "partner_notice", "name": "Partner notice", "audience": "partner",
        "description": "For partners and integrators: what their integrations see, workarounds, next update.",
        "subject": "Service notice: {{ service }} — {{ stage_label }}",
        "body": """Dear partner,

Since {{ started_at }} we have been handling an incident affecting {{ services|join(", ") }}.

What you may see: {{ impact }}
Where we are: {{ stage_label }}.
{% if stage != "resolved" and next_update_at %}We will update you by {{ next_update_at }}.
{% endif %}
If your integration needs help, reply to this message and quote {{ ref }}.""",
    },
    {
        "key": "regulatory", "name": "Regulatory notification", "audience": "regulatory",
        "description": "For a regulator or data protection authority: facts, times, impact, measures. Legal review first.",
        "subject": "Incident notification — reference {{ ref }}",
        "body": """Incident notification

Reference: {{ ref }}
Nature of the incident: {{ title }}
Service affected: {{ services|join(", ") }}
Started: {{ started_at }}
Detected: {{ detected_at }}
Current status: {{ stage_label }}{% if resolved_at %}, resolved {{ resolved_at }}{% endif %}

Impact: {{ impact }}
Measures taken: {{ actions or "The response team is working to contain and resolve the incident." }}

Contact: the incident commander, {{ commander or "to be confirmed" }}. We will provide further information as it becomes available.""",
    },
    {
        "key": "social", "name": "Social media post", "audience": "social",
        "description": "A short public post; point people to the status page.",
        "subject": "",
        "body": """{% if stage == "resolved" %}Fixed: the issue with {{ service }} is resolved. Sorry for the trouble, and thank you for your patience.{% else %}We're aware of an issue with {{ service }} and are working on it. Updates: {{ status_page_url }}{% endif %}""",
    },
    {
        "key": "press", "name": "Press release", "audience": "press",
        "description": "A statement for the press: approved by the commander and communications before it goes.",
        "subject": "Statement on the {{ service }} service disruption",
        "body": """FOR IMMEDIATE RELEASE

{% if stage == "resolved" %}On {{ started_at }}, some customers could not use {{ service }}. The issue was resolved at {{ resolved_at or now }}.{% else %}Since {{ started_at }}, some customers have been unable to use {{ service }}. Our teams are working to restore service.{% endif %}

{{ impact }}

We apologise to our customers for the disruption. We will publish what happened and what we are changing once our review is complete.

Current status: {{ status_page_url }}""",
    },
]
TEMPLATE_KEYS = tuple(spec["key"] for spec in TEMPLATES)

# Who must be told, by when (minutes from detection), with which template, per severity.
PLANS = {
    1: [
        {"audience": "Engineering and support (internal technical update)", "template": "internal_technical", "within": 15},
        {"audience": "Management (management update)", "template": "management", "within": 30},
        {"audience": "Customers, on the status page", "template": "customer_notice", "within": 30},
        {"audience": "Partners and integrators", "template": "partner_notice", "within": 60},
        {"audience": "Social media, if customers are asking in public", "template": "social", "within": 60},
        {"audience": "Regulators, if personal data or a regulated service is involved (legal review)",
         "template": "regulatory", "within": 24 * 60},
        {"audience": "Press, only if asked (approved statement)", "template": "press", "within": 24 * 60},
    ],
    2: [
        {"audience": "Engineering and support (internal technical update)", "template": "internal_technical", "within": 30},
        {"audience": "Management (management update)", "template": "management", "within": 60},
        {"audience": "Customers, on the status page", "template": "customer_notice", "within": 60},
        {"audience": "Partners, if their integrations are affected", "template": "partner_notice", "within": 120},
    ],
    3: [
        {"audience": "Engineering and support (internal technical update)", "template": "internal_technical", "within": 60},
        {"audience": "Customers, if they notice (status page)", "template": "customer_notice", "within": 240},
    ],
    4: [
        {"audience": "The owning team (internal technical update)", "template": "internal_technical", "within": 24 * 60},
    ],
}
# Every plan ends with the resolution notice (within this long after resolving).
RESOLUTION_WITHIN = {1: 30, 2: 60, 3: 240, 4: 24 * 60}
