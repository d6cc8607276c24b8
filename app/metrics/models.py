"""Counters kept in the database: counts of things written there, added in the same
transaction, so every process's work shows in a scrape of any web process."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class MetricCount(db.Model):
    """One series of a counter (`firebreak_notifications{channel, purpose, outcome}`):
    its label values joined by `|`, as the code chose them."""

    __tablename__ = "metric_counts"

    name: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    labels: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
