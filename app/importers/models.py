"""What an importer remembers: which Firebreak object each vendor object became."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.database import UTCDateTime
from app.extensions import db


class ImportedObject(db.Model):
    """One vendor object (PagerDuty's schedule PXYZ123, say) and the Firebreak row it
    became, so a second run of the importer updates that row instead of adding another."""

    __tablename__ = "imported_objects"
    __table_args__ = (sa.UniqueConstraint("vendor", "kind", "vendor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(20))        # pagerduty, opsgenie, grafana-oncall
    kind: Mapped[str] = mapped_column(sa.String(40))          # the vendor's kind: user, schedule, ...
    vendor_id: Mapped[str] = mapped_column(sa.String(200))
    table: Mapped[str] = mapped_column(sa.String(60))         # the Firebreak table of the row it became
    object_id: Mapped[int] = mapped_column(sa.Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
