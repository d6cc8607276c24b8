"""Configuration as code: `flask --app wsgi config export [-o FILE]` writes every
piece of configuration as one YAML document; `config apply FILE [--dry-run]
[--prune]` makes the database say what a file says (docs/config-as-code.md).

  document  the schema (pydantic) and reading YAML with the line of every value
  export    the configuration as it is, as a document (no secrets, names for ids)
  plan      file against database: the plan, the reference check, and applying it
  cli       the two commands

What is configuration: people with their contact methods, notification rules and
holidays; teams; schedules with their layers; escalation policies; services with
their severity mapping, matrix and integration keys (by name); the severity model
and its triggers; communication templates admins saved; stakeholder lists; the
status page's settings, groups and components; outbound webhooks (URL and secret named by an environment
variable). Not configuration: incidents, alerts, notifications, history, the audit
log, overrides, swaps and maintenance windows (operations, as Terraform's PagerDuty
provider also treats overrides), sign-in secrets of any kind.
"""
