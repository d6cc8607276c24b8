"""Importers: PagerDuty, Opsgenie and Grafana OnCall configuration brought into
Firebreak (`flask --app wsgi import <vendor>`). app.importers.core has what they share."""
