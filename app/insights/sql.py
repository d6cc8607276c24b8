"""SQL pieces the metrics share, written once per dialect where SQLite and
PostgreSQL differ (time arithmetic), and once for both where they agree
(percentiles by window functions).

Percentiles: PostgreSQL has `percentile_cont`, SQLite has nothing of the kind, so
both use one portable definition, the same as `percentile_cont` (and NumPy's
default): sort the n values, take position (n - 1) × p, and interpolate linearly
between the two values either side of it. Row numbers and counts come from window
functions; integer arithmetic picks the two rows, so no dialect rounds differently.
The PostgreSQL tests compare it with `percentile_cont` on the same data.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


PERCENTILES = (50, 90)


class seconds_between(FunctionElement):  # noqa: N801 - reads like the SQL function it is
    """Seconds from `earlier` to `later` (negative when later is before), as a float."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"((julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}))"
            " * 86400.0)")


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"CAST(EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"
            " AS DOUBLE PRECISION)")


class utc_date(FunctionElement):  # noqa: N801
    """The calendar date (UTC) of a stored moment."""

    type = sa.Date()
    name = "utc_date"
    inherit_cache = True


@compiles(utc_date, "sqlite")
def _date_sqlite(element, compiler, **kw):
    return f"date({compiler.process(list(element.clauses)[0], **kw)})"


@compiles(utc_date, "postgresql")
def _date_postgresql(element, compiler, **kw):
    return f"CAST({compiler.process(list(element.clauses)[0], **kw)} AS DATE)"


class utc_hour(FunctionElement):  # noqa: N801
    """A stored moment cut down to its hour (UTC), as text 'YYYY-MM-DD HH'."""

    type = sa.String()
    name = "utc_hour"
    inherit_cache = True


@compiles(utc_hour, "sqlite")
def _hour_sqlite(element, compiler, **kw):
    # Stored as text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite DateTime): its first
    # 13 characters are the hour, cheaper to cut than to parse.
    return f"substr({compiler.process(list(element.clauses)[0], **kw)}, 1, 13)"


@compiles(utc_hour, "postgresql")
def _hour_postgresql(element, compiler, **kw):
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)}, 'YYYY-MM-DD HH24')"


class utc_quarter_hour(FunctionElement):  # noqa: N801
    """A stored moment cut down to its quarter hour (UTC), as text 'YYYY-MM-DD HH:MM'
    (for zones whose offset is not whole hours)."""

    type = sa.String()
    name = "utc_quarter_hour"
    inherit_cache = True


@compiles(utc_quarter_hour, "sqlite")
def _quarter_sqlite(element, compiler, **kw):
    at = compiler.process(list(element.clauses)[0], **kw)
    return (f"(strftime('%Y-%m-%d %H:', {at}) || "
            f"substr('0' || ((CAST(strftime('%M', {at}) AS INTEGER) / 15) * 15), -2))")


@compiles(utc_quarter_hour, "postgresql")
def _quarter_postgresql(element, compiler, **kw):
    at = compiler.process(list(element.clauses)[0], **kw)
    return (f"(to_char({at}, 'YYYY-MM-DD HH24:') || "
            f"lpad(CAST((CAST(EXTRACT(MINUTE FROM {at}) AS INTEGER) / 15) * 15 AS TEXT), 2, '0'))")


def distribution(values: sa.Select, *, groups: tuple[str, ...] = (), percentiles=PERCENTILES) -> sa.Select:
    """Count, mean, min, max and percentiles of column `v` of `values`, per `groups`
    (names of its other columns). Rows whose `v` is NULL must be left out by `values`.

    Answers one row per group: the group columns, then `n`, `mean`, `low`, `high`
    and `p<P>` for each percentile P (integers, e.g. 50 and 90).
    """
    source = values.subquery("vals")
    keys = [source.c[name] for name in groups]
    ranked = sa.select(
        *keys, source.c.v,
        (sa.func.row_number().over(partition_by=keys or None, order_by=source.c.v) - 1).label("i"),
        sa.func.count().over(partition_by=keys or None).label("n"),
    ).subquery("ranked")
    r_keys = [ranked.c[name] for name in groups]
    columns = [*r_keys, sa.func.count().label("n"), sa.func.avg(ranked.c.v).label("mean"),
               sa.func.min(ranked.c.v).label("low"), sa.func.max(ranked.c.v).label("high")]
    for p in percentiles:
        hundred = sa.literal_column("100", sa.Integer)
        position = (ranked.c.n - 1) * sa.literal_column(str(int(p)), sa.Integer)
        low = position // hundred  # integer division on both backends (never negative)
        fraction = sa.cast(position % hundred, sa.Float) / 100.0
        columns.append(sa.func.sum(sa.case(
            (ranked.c.i == low, ranked.c.v * (1.0 - fraction)),
            (ranked.c.i == low + 1, ranked.c.v * fraction),
            else_=0.0)).label(f"p{int(p)}"))
    stmt = sa.select(*columns).select_from(ranked)
    if r_keys:
        stmt = stmt.group_by(*r_keys)
    return stmt
