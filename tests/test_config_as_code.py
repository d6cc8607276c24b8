"""Configuration as code: `config export` and `config apply` (docs/config-as-code.md)."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import yaml

from app import clock
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth import service as people
from app.comms import webhooks as hooks
from app.comms.models import Webhook
from app.demo import seed_demo
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.auth.models import User
from app.oncall.models import Schedule
from app.services.models import IntegrationKey, Service
from app.statuspage.models import Component
from app.triage import service as triage
from tests.whole_database import _Pristine, assert_same, every_row

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)

# The tests that write the most (the whole import or file, a second run, a dry run)
# also run on PostgreSQL (pytest.mark.db); the rest on SQLite alone.


@pytest.fixture
def demo(app):
    clock.set(NOW)
    seed_demo("demo-password-1")
    db.session.commit()


def export(runner) -> str:
    result = runner.invoke(args=["config", "export"])
    assert result.exit_code == 0, result.output
    return result.output


def apply(runner, path, *options):
    return runner.invoke(args=["config", "apply", str(path), *options])


def write(tmp_path, text: str, name: str = "firebreak.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.db
def test_the_demo_organisation_exported_applied_to_an_empty_database_exports_the_same_file(app, runner, tmp_path):
    clock.set(NOW)
    empty = _Pristine()
    try:
        seed_demo("demo-password-1")
        db.session.commit()
        first = export(runner)
        empty.restore()
    finally:
        empty.drop()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0

    result = apply(runner, write(tmp_path, first))
    assert result.exit_code == 0, result.output
    assert "+ create person dana@example.com" in result.output
    assert "+ create schedule Payments on-call" in result.output
    assert result.output.rstrip().endswith("Applied.")
    assert export(runner) == first

    again = apply(runner, write(tmp_path, first))
    assert again.exit_code == 0 and again.output == "No changes.\n"

    # What the file made is whole: the services page, the rotation, the policies.
    checkout = db.session.scalar(sa.select(Service).where(Service.name == "checkout-api"))
    assert checkout.active_keys and checkout.escalation_policy_id is not None
    assert triage.service_matrix(checkout) == {"unavailable": 1, "degraded": 2}
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.actor_label == "config apply")).all()
    assert {"user.create", "schedule.create", "escalation.create", "service.create"} <= {e.action for e in entries}


def test_the_export_is_ordered_by_name_and_names_things_instead_of_ids(app, runner, demo):
    doc = yaml.safe_load(export(runner))
    assert list(doc) == ["firebreak_config", "people", "teams", "schedules", "escalation_policies", "services",
                         "severity_levels", "communication_templates", "stakeholder_lists", "status_page", "webhooks"]
    emails = [p["email"] for p in doc["people"]]
    assert emails == sorted(emails) and "dana@example.com" in emails
    assert [s["name"] for s in doc["services"]] == sorted(s["name"] for s in doc["services"])
    payments = next(p for p in doc["escalation_policies"] if p["name"] == "Payments escalation")
    assert payments["steps"][0]["targets"] == [{"schedule": "Payments on-call"}]
    assert payments["steps"][1]["targets"] == [{"user": "priya@example.com"}]
    schedule = next(s for s in doc["schedules"] if s["name"] == "Payments on-call")
    assert [layer["name"] for layer in schedule["layers"]] == ["Business hours", "Weekly"]  # the top one first
    assert schedule["layers"][0]["rotation"]["restrictions"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]
    marco = next(p for p in doc["people"] if p["email"] == "marco@example.com")
    assert marco["holidays"] and marco["holidays"][0]["note"] == "Conference"


def test_secrets_are_never_written_and_webhooks_name_the_environment_instead(app, runner, demo, tmp_path, monkeypatch):
    admin = people.find_user_by_email("admin@example.com")
    row, token = people.create_api_token(Actor.system("test"), admin, name="ci")
    hooks.create_webhook(Actor.system("test"), NOW, name="Ops Slack", kind="slack",
                         url="https://hooks.slack.example/services/T000/B000/XXXXSECRETPATH")
    db.session.commit()
    text = export(runner)
    hook = db.session.scalar(sa.select(Webhook).where(Webhook.name == "Ops Slack"))
    secrets = [hook.url, hook.secret, "XXXXSECRETPATH", admin.password_hash]
    secrets += list(db.session.scalars(sa.select(IntegrationKey.key)))
    secrets += [token, row.token_hash]
    for secret in secrets:
        assert secret not in text
    assert "password" not in text and "totp" not in text.lower() and "passkey" not in text.lower()
    doc = yaml.safe_load(text)
    assert doc["webhooks"] == [{"name": "Ops Slack", "kind": "slack",
                                "url": {"env": "FIREBREAK_WEBHOOK_OPS_SLACK_URL"},
                                "secret": {"env": "FIREBREAK_WEBHOOK_OPS_SLACK_SECRET"}, "active": True}]
    checkout = next(s for s in doc["services"] if s["name"] == "checkout-api")
    assert checkout["integration_keys"] == [{"name": "Events API v2", "kind": "events_api_v2"}]

    # Applied, the secrets come from the environment; without them, nothing is written.
    doc["webhooks"].append({"name": "Status bot", "kind": "generic", "url": {"env": "STATUS_BOT_URL"},
                            "secret": {"env": "STATUS_BOT_SECRET"}})
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("FIREBREAK_WEBHOOK_OPS_SLACK_URL", hook.url)
    monkeypatch.setenv("FIREBREAK_WEBHOOK_OPS_SLACK_SECRET", hook.secret)
    before = every_row()
    result = apply(runner, path)
    assert result.exit_code == 1
    assert re.search(r"webhooks\[1\]\.url: the environment has no STATUS_BOT_URL .* \(line \d+\)", result.output)
    assert_same(before, every_row())
    secret = hooks.signing.new_secret()
    monkeypatch.setenv("STATUS_BOT_URL", "https://status-bot.example/hook")
    monkeypatch.setenv("STATUS_BOT_SECRET", secret)
    result = apply(runner, path)
    assert result.exit_code == 0, result.output
    assert "+ create webhook Status bot" in result.output and "Ops Slack" not in result.output
    assert secret not in result.output and "status-bot.example" not in result.output
    made = db.session.scalar(sa.select(Webhook).where(Webhook.name == "Status bot"))
    assert (made.url, made.secret) == ("https://status-bot.example/hook", secret)
    assert apply(runner, path).output == "No changes.\n"
    # A new secret in the environment is a change of that one field.
    monkeypatch.setenv("STATUS_BOT_SECRET", hooks.signing.new_secret())
    assert "~ update webhook Status bot: secret" in apply(runner, path, "--dry-run").output


def test_a_changed_file_plans_the_fields_that_change_and_applies_them_once(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    checkout = next(s for s in doc["services"] if s["name"] == "checkout-api")
    checkout["description"] = "Orders and payment."
    checkout["severity_matrix"]["bug"] = 3
    weekly = next(s for s in doc["schedules"] if s["name"] == "Platform on-call")["layers"][0]
    weekly["rotation"]["participants"].append("admin@example.com")
    doc["teams"].append({"name": "Data", "description": "Warehouse and pipelines.",
                         "members": ["sam@example.com", "ines@example.com"], "managers": ["sam@example.com"]})
    executives = next(row for row in doc["stakeholder_lists"] if row["name"] == "Executives")
    executives["members"] = [{"user": "admin@example.com"}, {"name": "Board secretary", "email": "Board@Example.com"}]
    doc["status_page"]["page"]["brand_color"] = "#0a7d33"
    doc["communication_templates"] = [{"key": "custom_board_note", "name": "Board note", "audience": "management",
                                       "subject": "{{ ref }}: {{ title }}",
                                       "body": "{{ severity }} on {{ service }}.\nImpact: {{ impact }}\n"}]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    result = apply(runner, path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:7] == [
        "+ create team Data",
        "~ update schedule Platform on-call: layers",
        "~ update service checkout-api: description, severity_matrix",
        "+ create communication template custom_board_note",
        "~ update stakeholder list Executives: members",
        "~ update status page settings: brand_color",
        "Plan: 2 to create, 4 to update, 0 to delete.",
    ]
    # Text of several lines reads as it is written.
    assert "  body: |-\n    {{ severity }} on {{ service }}.\n    Impact: {{ impact }}\n" in export(runner)
    from app.comms.models import StakeholderList
    row = db.session.scalar(sa.select(StakeholderList).where(StakeholderList.name == "Executives"))
    assert sorted(m.label for m in row.members) == ["Avery Admin", "Board secretary"]
    assert [m.email for m in row.members if m.user_id is None] == ["board@example.com"]
    service = db.session.scalar(sa.select(Service).where(Service.name == "checkout-api"))
    assert service.description == "Orders and payment."
    assert triage.service_matrix(service)["bug"] == 3
    # The rotation changes from its next handoff, as on the schedule page: whoever is on call stays.
    schedule = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Platform on-call"))
    assert len(schedule.layers[0].versions) == 2
    assert apply(runner, path).output == "No changes.\n"
    assert apply(runner, path, "--prune").output == "No changes.\n"


@pytest.mark.db
def test_without_prune_nothing_is_deleted_and_with_it_what_the_file_leaves_out_goes(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    doc["status_page"]["components"] = [c for c in doc["status_page"]["components"] if c["name"] != "Website"]
    doc["people"] = [p for p in doc["people"] if p["email"] != "morgan@example.com"]
    for service in doc["services"]:
        if service["name"] == "web-frontend":
            service["integration_keys"] = []
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))

    before = every_row()
    kept = apply(runner, path)
    assert kept.exit_code == 0, kept.output
    assert kept.output == ("No changes.\n"
                           "Not in the file, kept (apply with --prune to delete):\n"
                           "  person morgan@example.com (deactivated)\n"
                           "  integration key Events API v2 of web-frontend (revoked)\n"
                           "  status page component Website\n")
    assert_same(before, every_row())

    pruned = apply(runner, path, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "- delete status page component Website" in pruned.output
    assert "- delete person morgan@example.com (deactivated)" in pruned.output
    assert "~ update service web-frontend: integration_keys" in pruned.output
    assert db.session.scalar(sa.select(Component).where(Component.name == "Website")) is None
    assert people.find_user_by_email("morgan@example.com").active is False
    web = db.session.scalar(sa.select(Service).where(Service.name == "web-frontend"))
    assert web.active_keys == [] and web.integration_keys  # revoked, not deleted
    assert apply(runner, path, "--prune").output == "No changes.\n"

    # A team goes with --prune once it owns nothing; one that still does is refused, whole.
    from app.auth.models import Team
    doc["teams"].append({"name": "Data", "members": ["sam@example.com"]})
    assert apply(runner, write(tmp_path, yaml.safe_dump(doc, sort_keys=False)), "--prune").exit_code == 0
    doc["teams"] = [t for t in doc["teams"] if t["name"] not in ("Data", "Platform")]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    before = every_row()
    refused = apply(runner, path, "--prune")
    assert refused.exit_code == 1
    assert re.search(r'unknown team "Platform" \(line \d+\)', refused.output), refused.output
    assert_same(before, every_row())
    doc["teams"].append({"name": "Platform", "members": ["sam@example.com"]})
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    result = apply(runner, path, "--prune")
    assert result.exit_code == 0, result.output
    assert "- delete team Data" in result.output
    assert db.session.scalar(sa.select(Team).where(Team.name == "Data")) is None


def test_a_schema_error_names_the_path_and_its_line_and_changes_nothing(app, runner, demo, tmp_path):
    text = export(runner)
    lines = text.splitlines()
    # The second participant of a schedule's first layer becomes someone nobody knows.
    start = lines.index("- name: Platform on-call")
    at = next(i for i in range(start, len(lines)) if lines[i].strip() == "- ines@example.com")
    lines[at] = lines[at].replace("ines@example.com", "zoe@example.com")
    schedules = yaml.safe_load(text)["schedules"]
    index = [s["name"] for s in schedules].index("Platform on-call")
    before = every_row()
    result = apply(runner, write(tmp_path, "\n".join(lines) + "\n"))
    assert result.exit_code == 1
    assert (f'Error: schedules[{index}].layers[0].rotation.participants[1]: unknown person "zoe@example.com" '
            f"(line {at + 1})") in result.output
    assert "Nothing was changed." in result.output
    assert_same(before, every_row())

    bad = ("people:\n"
           "- email: zed@example.com\n"
           "  name: Zed\n"
           "  role: boss\n")
    result = apply(runner, write(tmp_path, bad))
    assert result.exit_code == 1
    assert "people[0].role: Input should be 'admin', 'responder' or 'viewer' (line 4)" in result.output
    result = apply(runner, write(tmp_path, "teams:\n- name: Data\n  colour: blue\n"))
    assert "teams[0].colour: unknown key (line 3)" in result.output
    result = apply(runner, write(tmp_path, "services:\n- name: x\n  ack_timeout_minutes: 0\n"))
    assert "services[0].ack_timeout_minutes" in result.output and "(line 3)" in result.output
    result = apply(runner, write(tmp_path, "schedules:\n- name: s\n  layers:\n  - name: l\n    rotation:\n"
                                           "      participants: [dana@example.com]\n      shift_unit: days\n"
                                           "      start_date: 2026-12-01\n      handoff_time: 17:00\n"))
    assert ("schedules[0].layers[0].rotation.handoff_time: write times of day in quotes, e.g. '17:00' (line 9)"
            in result.output), result.output
    result = apply(runner, write(tmp_path, "teams: [\n"))
    assert result.exit_code == 1 and "not valid YAML" in result.output
    assert_same(before, every_row())


def test_a_refusal_while_applying_names_the_object_and_rolls_everything_back(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    doc["teams"].append({"name": "Data", "members": ["sam@example.com"]})
    doc["communication_templates"] = [{"key": "custom_broken", "name": "Broken", "audience": "management",
                                       "body": "{{ incident.nonexistent_field | oops }}"}]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    before = every_row()
    result = apply(runner, path)
    assert result.exit_code == 1
    assert re.search(r"communication_templates\[0\]: create communication template custom_broken: .+ \(line \d+\)",
                     result.output), result.output
    assert_same(before, every_row())


@pytest.mark.db
def test_a_dry_run_prints_the_plan_and_leaves_the_whole_database_as_it_was(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    doc["teams"].append({"name": "Data", "members": ["sam@example.com"]})
    doc["escalation_policies"] = [p for p in doc["escalation_policies"] if p["name"] != "Platform escalation"]
    for service in doc["services"]:
        if service["escalation_policy"] == "Platform escalation":
            service["escalation_policy"] = "Payments escalation"
    doc["people"].append({"email": "zed@example.com", "name": "Zed", "phone": "+15551239999",
                          "contact_methods": [{"channel": "sms", "address": "+1 555 123 9999"}]})
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    before = every_row()
    result = apply(runner, path, "--dry-run", "--prune")
    assert result.exit_code == 0, result.output
    assert "+ create person zed@example.com" in result.output
    assert "+ create team Data" in result.output
    assert "- delete escalation policy Platform escalation" in result.output
    assert result.output.rstrip().endswith("Dry run: nothing was written.")
    assert_same(before, every_row())

    result = apply(runner, path, "--prune")
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.name == "Platform escalation")) is None
    assert people.find_user_by_email("zed@example.com").contact_methods[0].address == "+15551239999"
    assert apply(runner, path, "--prune").output == "No changes.\n"


def test_a_persons_own_rules_holidays_and_a_schedules_layers_follow_the_file(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    dana = next(p for p in doc["people"] if p["email"] == "dana@example.com")
    dana["notification_rules"]["high"] = [{"channel": "voice", "address": "+15551230001", "delay_minutes": 0},
                                          {"channel": "email", "address": "dana@example.com", "delay_minutes": 3}]
    dana["holidays"] = [{"first_day": "2026-12-24", "last_day": "2026-12-26", "note": "Christmas"}]
    schedule = next(s for s in doc["schedules"] if s["name"] == "Payments on-call")
    weekly = next(layer for layer in schedule["layers"] if layer["name"] == "Weekly")
    schedule["layers"] = [weekly, {"name": "Weekends", "rotation": {
        "participants": ["dana@example.com", "lee@example.com"], "shift_unit": "days", "shift_length": 2,
        "handoff_time": "08:00", "restrictions": [{"days": ["sat", "sun"], "start": "08:00", "end": "20:00"}],
        "start_date": "2026-11-21", "first_participant": "lee@example.com"}}]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    result = apply(runner, path)
    assert result.exit_code == 0, result.output
    assert "~ update person dana@example.com: notification_rules, holidays" in result.output
    assert "~ update schedule Payments on-call: layers" in result.output
    row = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Payments on-call"))
    layers = sorted(row.layers, key=lambda layer: -layer.position)
    assert [layer.name for layer in layers] == ["Weekly", "Weekends"]  # Business hours removed, Weekly on top
    weekends = layers[1].versions[0]
    dana_row, lee = people.find_user_by_email("dana@example.com"), people.find_user_by_email("lee@example.com")
    assert weekends.participant_ids == [dana_row.id, lee.id] and weekends.start_index == 1
    assert weekends.restrictions == [{"days": [5, 6], "start": "08:00", "end": "20:00"}]
    from app.notify import contacts
    assert [(r.contact_method.channel.value, r.delay_minutes, r.chosen) for r in contacts.rules_for(dana_row, "high")] \
        == [("voice", 0, True), ("email", 3, True)]
    assert apply(runner, path).output == "No changes.\n"
    exported = next(p for p in yaml.safe_load(export(runner))["people"] if p["email"] == "dana@example.com")
    assert [str(h["first_day"]) for h in exported["holidays"]] == ["2026-12-24"]

    # Back to the defaults: the rules left out, the holiday gone.
    dana["notification_rules"]["high"] = None
    dana["holidays"] = []
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    assert apply(runner, path).exit_code == 0
    db.session.expire_all()
    assert [(r.contact_method.channel.value, r.delay_minutes, r.chosen) for r in contacts.rules_for(dana_row, "high")] \
        == [("sms", 0, False), ("voice", 2, False), ("email", 5, False)]
    assert apply(runner, path).output == "No changes.\n"


def test_pruning_archives_a_schedule_and_refuses_one_a_policy_still_pages(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    doc["schedules"] = [s for s in doc["schedules"] if s["name"] != "Payments on-call"]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    # The file still has Payments escalation paging it: the reference check stops that
    # (without --prune the schedule stays, and the reference is good).
    result = apply(runner, path, "--prune")
    assert result.exit_code == 1
    assert re.search(r'escalation_policies\[\d\]\.steps\[0\]\.targets\[0\]\.schedule: unknown schedule '
                     r'"Payments on-call" \(line \d+\)', result.output), result.output
    assert apply(runner, path).output.startswith("No changes.\nNot in the file, kept")
    policy = next(p for p in doc["escalation_policies"] if p["name"] == "Payments escalation")
    policy["steps"][0]["targets"] = [{"user": "dana@example.com"}]
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    result = apply(runner, path, "--prune")
    assert result.exit_code == 0, result.output
    assert "- delete schedule Payments on-call (archived)" in result.output
    row = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Payments on-call"))
    assert row.archived_at is not None
    assert apply(runner, path, "--prune").output == "No changes.\n"


def test_what_is_a_set_may_be_listed_in_any_order_and_written_in_other_words(app, runner, demo, tmp_path):
    doc = yaml.safe_load(export(runner))
    for person in doc["people"]:
        person["contact_methods"].reverse()
        person["email"] = person["email"].upper()
        if person["phone"]:
            person["phone"] = person["phone"][:2] + " " + person["phone"][2:]
    for team in doc["teams"]:
        team["members"].reverse()
    for service in doc["services"]:
        service["name"] = service["name"].upper() if service["name"] == "payments-db" else service["name"]
    for row in doc["stakeholder_lists"]:
        row["members"].reverse()
        row["severities"].reverse()
    doc["people"].reverse()
    path = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    result = apply(runner, path)
    # Only the one real change: a service's name in capitals is a rename of it.
    assert result.output.splitlines() == ["~ update service PAYMENTS-DB: name",
                                          "Plan: 0 to create, 1 to update, 0 to delete.", "Applied."]
    assert apply(runner, path).output == "No changes.\n"


MINIMAL = """\
# Written by hand: defaults left out.
people:
- email: Ann@Example.com
  name: Ann Lee
  role: admin
  phone: "+44 7700 900123"
  contact_methods:
  - {channel: sms, address: "+447700900123"}
  - {channel: email, address: ann@example.com}
- email: bo@example.com
  name: Bo Park
teams:
- name: SRE
  members: [ann@example.com, bo@example.com]
  managers: [ann@example.com]
schedules:
- name: SRE on-call
  time_zone: Europe/London
  team: SRE
  layers:
  - name: Weekly
    rotation:
      participants: [ann@example.com, bo@example.com]
      handoff_weekday: monday
      start_date: 2026-11-18
escalation_policies:
- name: SRE escalation
  steps:
  - delay_minutes: 5
    targets: [{schedule: SRE on-call}]
services:
- name: db
  team: SRE
  escalation_policy: SRE escalation
  integration_keys: [{name: Prometheus}]
"""


def test_a_short_hand_written_file_applies_to_an_empty_database_and_then_says_no_changes(app, runner, tmp_path):
    clock.set(NOW)
    path = write(tmp_path, MINIMAL)
    dry = apply(runner, path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[-2:] == ["Plan: 6 to create, 0 to update, 0 to delete.",
                                            "Dry run: nothing was written."]
    result = apply(runner, path)
    assert result.exit_code == 0, result.output
    assert apply(runner, path).output == "No changes.\n"
    ann = people.find_user_by_email("ann@example.com")
    assert ann.phone == "+447700900123" and all(m.verified for m in ann.contact_methods)
    schedule = db.session.scalar(sa.select(Schedule).where(Schedule.name == "SRE on-call"))
    version = schedule.layers[0].versions[0]
    assert (version.handoff_weekday, str(version.start_date)) == (0, "2026-11-23")  # the first Monday from the 18th
    db_service = db.session.scalar(sa.select(Service).where(Service.name == "db"))
    assert [k.name for k in db_service.active_keys] == ["Prometheus"]
    # The export says the same in full, and applies as no change.
    full = write(tmp_path, export(runner), "full.yaml")
    assert apply(runner, full).output == "No changes.\n"
