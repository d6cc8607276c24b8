"""The engine's lease: one row per engine name, proving which process may run cycles."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.database import UTCDateTime
from app.extensions import db


class EngineLease(db.Model):
    __tablename__ = "engine_leases"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The fencing token: bumped on every change of holder, so a stale holder's writes can be told apart.
    epoch: Mapped[int] = mapped_column(default=1)
    cycles: Mapped[int] = mapped_column(default=0)
    last_cycle_ms: Mapped[float] = mapped_column(default=0.0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
