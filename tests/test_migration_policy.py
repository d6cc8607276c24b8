"""Expand / contract: every migration since the last release (CHANGELOG.md) either
leaves alone what that release reads, or is listed as a contract step with its
downtime. The checker itself (tests/migration_policy.py) is tested on migrations
written here, and on the project's own history."""
from __future__ import annotations

import textwrap

import pytest

from tests.migration_policy import (CHANGELOG, Step, contract_steps, last_release, migration_sources, read_changelog,
                                    unlisted, unreleased)


def releases():
    return read_changelog(CHANGELOG.read_text(encoding="utf-8"))


def test_every_contract_step_since_the_last_release_is_listed_in_the_changelog():
    release = last_release(releases())
    steps = contract_steps(migration_sources(), after=release.last_migration)
    problems = unlisted(steps, unreleased(releases()).contract_steps)
    assert not problems, "\n".join(problems)


def test_the_changelog_records_each_release_with_its_commit_and_last_migration():
    found = releases()
    assert found[0].version == "Unreleased"
    revisions = {name.split("_", 1)[0] for name in migration_sources()}
    for release in found[1:]:
        assert release.commit, f"{release.version} names no commit"
        assert release.last_migration in revisions, f"{release.version}: no migration {release.last_migration}"
    assert last_release(found).version == found[1].version


def test_the_releases_own_history_holds_two_retypes_and_nothing_else():
    """Read from the project's migrations as if 0.1.0 had been released at 0013 or
    0015: 0016 widens two columns; 0014's NOT NULL column has a server default and
    0015's table is new, so neither is a step."""
    history = {name: source for name, source in migration_sources().items() if name[:4] <= "0016"}
    widenings = [Step("0016_standard_webhooks.py", "alter_column comms_webhooks.secret type_=sa.String(length=300)"),
                 Step("0016_standard_webhooks.py",
                      "alter_column subscribers.webhook_secret type_=sa.String(length=100)")]
    assert contract_steps(history, after="0013") == widenings
    assert contract_steps(history, after="0015") == widenings
    assert contract_steps(history, after="0016") == []


# --- the checker on migrations written here ---------------------------------------------

BASE = '''"""the released schema"""
from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None


def upgrade():
    op.create_table('incidents', sa.Column('id', sa.Integer(), primary_key=True))
    with op.batch_alter_table('incidents') as batch_op:
        batch_op.create_index('ix_incidents_key', ['key'], unique=True)
'''


def sources(upgrade: str, *, downgrade: str = "pass", module: str = "") -> dict[str, str]:
    """The released 0001 and a new 0002 whose upgrade() is `upgrade`."""
    new = (f"from alembic import op\nimport sqlalchemy as sa\n\nrevision = '0002'\ndown_revision = '0001'\n{module}\n\n"
           f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade), '    ')}\n\n"
           f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade), '    ')}\n")
    return {"0001_base.py": BASE, "0002_change.py": new}


def steps_of(upgrade: str, **kwargs) -> list[str]:
    return [step.operation for step in contract_steps(sources(upgrade, **kwargs), after="0001")]


@pytest.mark.parametrize("upgrade, expected", [
    ("op.drop_table('incidents')", ["drop_table incidents"]),
    ("op.drop_column('incidents', 'title')", ["drop_column incidents.title"]),
    ("op.rename_table('incidents', 'cases')", ["rename_table incidents to cases"]),
    ("""
     with op.batch_alter_table('incidents', schema=None) as batch_op:
         batch_op.alter_column('title', new_column_name='summary')
     """, ["alter_column incidents.title new_column_name='summary'"]),
    ("op.alter_column('incidents', 'title', type_=sa.Text())", ["alter_column incidents.title type_=sa.Text()"]),
    ("op.alter_column('incidents', 'title', existing_type=sa.Text(), nullable=False)",
     ["alter_column incidents.title nullable=False"]),
    ("op.alter_column('incidents', 'title', server_default=None)",
     ["alter_column incidents.title server_default=None"]),
    ("""
     with op.batch_alter_table('incidents') as batch_op:
         batch_op.add_column(sa.Column('owner', sa.String(20), nullable=False))
     """, ["add_column incidents.owner nullable=False"]),
    ("op.create_unique_constraint('uq_incidents_title', 'incidents', ['title'])",
     ["create_unique_constraint incidents.uq_incidents_title"]),
    ("op.create_check_constraint('ck_incidents_sev', 'incidents', 'severity < 5')",
     ["create_check_constraint incidents.ck_incidents_sev"]),
    ("""
     with op.batch_alter_table('incidents') as batch_op:
         batch_op.create_foreign_key('fk_incidents_team_id_teams', 'teams', ['team_id'], ['id'])
     """, ["create_foreign_key incidents.fk_incidents_team_id_teams"]),
    ("op.create_index('ix_incidents_title', 'incidents', ['title'], unique=True)",
     ["create_index incidents.ix_incidents_title"]),
    ("op.drop_constraint('uq_incidents_number', 'incidents', type_='unique')",
     ["drop_constraint incidents.uq_incidents_number"]),
    ("""
     with op.batch_alter_table('incidents') as batch_op:
         batch_op.drop_index('ix_incidents_key')
     """, ["drop_index incidents.ix_incidents_key"]),  # made unique=True by 0001
    ('op.execute("ALTER TABLE incidents RENAME COLUMN title TO summary")',
     ["execute RENAME COLUMN title TO summary"]),
    ('op.execute(sa.text("alter table incidents alter column severity type bigint"))',
     ["execute alter column severity type bigint"]),
    ('op.execute("ALTER TABLE incidents ALTER COLUMN title SET NOT NULL")',
     ["execute ALTER COLUMN title SET NOT NULL"]),
    ('op.get_bind().exec_driver_sql("ALTER TABLE incidents DROP title")', ["execute ALTER TABLE incidents DROP title"]),
    ('op.execute("ALTER TABLE incidents DROP CONSTRAINT uq_incidents_number")',
     ["execute DROP CONSTRAINT uq_incidents_number"]),
])
def test_a_contract_step_is_found(upgrade, expected):
    assert steps_of(upgrade) == expected


@pytest.mark.parametrize("upgrade", [
    "op.add_column('incidents', sa.Column('owner', sa.String(20), nullable=True))",
    "op.add_column('incidents', sa.Column('starred', sa.Boolean(), server_default=sa.false(), nullable=False))",
    "op.alter_column('incidents', 'title', existing_type=sa.Text(), nullable=True)",
    "op.create_index('ix_incidents_title', 'incidents', ['title'], unique=False)",
    "op.drop_index('ix_incidents_title', table_name='incidents')",  # a plain index: only speed
    "op.drop_constraint('fk_incidents_team_id_teams', 'incidents', type_='foreignkey')",
    """
    op.create_table('tags', sa.Column('id', sa.Integer(), primary_key=True), sa.Column('name', sa.String(20)))
    with op.batch_alter_table('tags') as batch_op:
        batch_op.create_unique_constraint('uq_tags_name', ['name'])
        batch_op.drop_column('name')
    op.drop_table('tags')
    """,  # a table new since the release: the old code never read it
    """
    with op.batch_alter_table('incidents') as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_incidents_team_id_teams', 'teams', ['team_id'], ['id'])
    """,  # a new column: the old code never writes it, so its foreign key refuses nothing
    'op.execute("CREATE TRIGGER t AFTER INSERT ON incidents BEGIN SELECT 1; END")',
    'op.execute("ALTER TABLE incidents DROP CONSTRAINT fk_incidents_team_id_teams")',
    'op.execute("UPDATE incidents SET title = \'Renamed to something\'")',
])
def test_what_the_old_release_survives_is_not_a_step(upgrade):
    assert steps_of(upgrade) == []


def test_the_checker_follows_upgrade_into_helpers_and_their_sql_but_not_into_downgrade():
    module = '''
STATEMENTS = [
    "DROP TABLE IF EXISTS legacy_search",
    "DROP INDEX IF EXISTS uq_alerts_open_dedup_key",
]


def drop_legacy():
    """DROP TABLE old_search and the rest (a docstring, not SQL)."""
    for statement in STATEMENTS:
        op.execute(statement)
    op.execute(f"ALTER TABLE {'incidents'} RENAME TO cases")
'''
    assert sorted(steps_of("drop_legacy()", downgrade="op.drop_table('incidents')", module=module)) == [
        "execute DROP INDEX IF EXISTS uq_alerts_open_dedup_key", "execute DROP TABLE IF EXISTS legacy_search",
        "execute RENAME TO cases"]
    assert steps_of("pass", downgrade="drop_legacy()", module=module) == []
    # A table downgrade() makes again is not new since the release.
    assert steps_of("op.drop_table('incidents')",
                    downgrade="op.create_table('incidents', sa.Column('id', sa.Integer()))") == ["drop_table incidents"]


def test_a_step_listed_with_its_note_passes_and_one_not_listed_fails_naming_file_and_operation():
    found = contract_steps(sources("""
        op.drop_column('incidents', 'legacy')
        op.drop_column('incidents', 'older')
        """), after="0001")
    listed = {"0002_change.py: drop_column incidents.legacy": "0.1.0 stopped reading it: upgrade every process "
                                                              "first. No downtime."}
    assert unlisted(found, listed) == [
        "0002_change.py: drop_column incidents.older is a contract step that CHANGELOG.md's [Unreleased] does not "
        "list: add \"- `0002_change.py: drop_column incidents.older` — <its downtime and the order to deploy it "
        "in>\" under its ### Contract steps"]
    listed["0002_change.py: drop_column incidents.older"] = "Same as legacy."
    assert unlisted(found, listed) == []
    listed["0002_change.py: drop_column incidents.older"] = ""
    assert unlisted(found, listed) == ["`0002_change.py: drop_column incidents.older` is listed without its "
                                       "downtime and ordering note"]
    stale = {**listed, "0002_change.py: drop_table incidents": "Never made."}
    assert "no migration since the last release does it" in unlisted(found, stale)[-1]


def test_the_changelog_is_read_as_written():
    text = textwrap.dedent("""\
        # Changelog

        ## [Unreleased]

        ### Contract steps

        - `0018_retire.py: drop_column incidents.legacy` — 0.2.0 no longer reads it; upgrade every
          process to 0.2.0 first. No downtime.
        - `0018_retire.py: alter_column incidents.title type_=sa.Text()`: rewrites the table under
          an exclusive lock (seconds per million rows).

        ## [0.2.0] - 2027-01-10

        Commit: `0a1b2c3`. Migrations: up to `0017`.

        ### Contract steps

        None.

        ## [0.1.0] - 2026-12-07

        Commit: `2121d3c`. Migrations: up to `0016`.
        """)
    found = read_changelog(text)
    assert [(r.version, r.commit, r.last_migration) for r in found] == [
        ("Unreleased", None, None), ("0.2.0", "0a1b2c3", "0017"), ("0.1.0", "2121d3c", "0016")]
    assert found[0].contract_steps == {
        "0018_retire.py: drop_column incidents.legacy":
            "0.2.0 no longer reads it; upgrade every process to 0.2.0 first. No downtime.",
        "0018_retire.py: alter_column incidents.title type_=sa.Text()":
            "rewrites the table under an exclusive lock (seconds per million rows)."}
    assert last_release(found).version == "0.2.0" and found[1].contract_steps == {}
