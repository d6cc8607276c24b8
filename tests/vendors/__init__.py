"""Loopback fakes of the vendors' REST APIs the importers read (PagerDuty, Opsgenie,
Grafana OnCall), built from their published API references; `base` has what they share."""
