"""What every importer shares: reading a vendor's REST API politely, remembering which
Firebreak object each vendor object became, and the report a run prints.

An importer (app.importers.pagerduty, .opsgenie, .grafana_oncall) reads everything it
needs from the vendor first, then makes or updates Firebreak objects through the
same service functions the pages and the API use, so every rule and audit entry
applies. `run` does all of it in one transaction: a dry run rolls it back, so it
writes nothing, and a failure half-way leaves the database as it was.

Vendor ids are remembered in imported_objects (`Ledger`): running an importer again
finds what it made the first time and updates it in place, even when the vendor
renamed it; an object someone deleted in Firebreak since is made again.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
import sqlalchemy as sa

from app import clock
from app.errors import DomainError
from app.extensions import db
from app.importers.models import ImportedObject

T = TypeVar("T")
USER_AGENT = "Firebreak-importer"
MAX_RETRIES = 5          # 429s in a row on one request before giving up
LONGEST_WAIT = 120.0     # seconds: a Retry-After longer than this is cut to it


class ImportFailed(DomainError):
    """The vendor's API refused or broke: nothing was imported."""


@dataclass
class Report:
    """What a run did, said so that someone switching over can act on it."""

    vendor: str
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    approximate: list[str] = field(default_factory=list)   # mapped, but not exactly: how
    unmapped: list[str] = field(default_factory=list)      # not mapped: why
    integrations: list[str] = field(default_factory=list)  # each old integration → the Firebreak URL and key

    def render(self) -> str:
        head = f"Import from {self.vendor}" + (" (dry run: nothing was written)" if self.dry_run else "")
        lines = [head, ""]
        for title, items in (("Created", self.created), ("Updated", self.updated),
                             ("Unchanged", self.unchanged),
                             ("Mapped approximately", self.approximate), ("Not mapped", self.unmapped),
                             ("Point each old integration at", self.integrations)):
            lines.append(f"{title}: {len(items)}" if title == "Unchanged" else f"{title} ({len(items)}):")
            if title != "Unchanged":
                lines.extend(f"  - {item}" for item in items)
        return "\n".join(lines).rstrip() + "\n"


class VendorClient:
    """GETs against one vendor's REST API with its authentication headers. A 429 is
    waited out as its Retry-After says (seconds or an HTTP date; `sleep` is injected,
    so tests record the waits instead of waiting); other failures raise ImportFailed
    naming the request."""

    def __init__(self, base_url: str, headers: dict[str, str], *, vendor: str,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.vendor, self.sleep, self.timeout = vendor, sleep, timeout
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", **headers})
        self.waits: list[float] = []

    def get(self, path_or_url: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON of one GET; `path_or_url` is a path under the base URL or a whole URL
        (a `next` link the vendor gave)."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url.lstrip('/')}"
        for _ in range(MAX_RETRIES + 1):
            try:
                answer = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as error:
                raise ImportFailed(f"{self.vendor} could not be reached at {url}: {error}") from None
            if answer.status_code != 429:
                break
            # Retry-After, or PagerDuty's ratelimit-reset (seconds until the window resets)
            wait = retry_after(answer.headers.get("Retry-After") or answer.headers.get("ratelimit-reset"))
            self.waits.append(wait)
            self.sleep(wait)
        else:
            raise ImportFailed(f"{self.vendor} kept answering 429 (rate limited) to {url}; try again later.")
        if answer.status_code in (401, 403):
            raise ImportFailed(f"{self.vendor} refused the credentials ({answer.status_code}) for {url}: "
                               "check the key and its permissions (read access to everything imported).")
        if not answer.ok:
            raise ImportFailed(f"{self.vendor} answered {answer.status_code} to {url}: {answer.text[:300]}")
        try:
            return answer.json()
        except ValueError:
            raise ImportFailed(f"{self.vendor} answered {url} with something that is not JSON.") from None


def retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date, RFC 9110
    §10.2.3); 1 when it is missing or unreadable, at most LONGEST_WAIT."""
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - clock.now()).total_seconds()
        except (TypeError, ValueError):
            return 1.0
    return min(max(seconds, 0.0), LONGEST_WAIT)


class Ledger:
    """The vendor ids one importer has seen before, and the rows they became."""

    def __init__(self, vendor: str):
        self.vendor = vendor

    def find(self, kind: str, vendor_id: str, model: type[T]) -> T | None:
        """The row `vendor_id` became last time, or None (never imported, or since deleted)."""
        link = self._link(kind, vendor_id)
        if link is None or link.table != model.__tablename__:
            return None
        return db.session.get(model, link.object_id)

    def remember(self, kind: str, vendor_id: str, row) -> None:
        """`vendor_id` became `row` (flushed, so it has its id)."""
        db.session.flush()
        now = clock.now()
        link = self._link(kind, vendor_id)
        if link is None:
            db.session.add(ImportedObject(vendor=self.vendor, kind=kind, vendor_id=str(vendor_id),
                                          table=row.__tablename__, object_id=row.id, imported_at=now,
                                          updated_at=now))
        else:
            link.table, link.object_id, link.updated_at = row.__tablename__, row.id, now

    def _link(self, kind: str, vendor_id: str) -> ImportedObject | None:
        return db.session.scalar(sa.select(ImportedObject).where(
            ImportedObject.vendor == self.vendor, ImportedObject.kind == kind,
            ImportedObject.vendor_id == str(vendor_id)))


def run(vendor: str, work: Callable[[Report], None], *, dry_run: bool) -> Report:
    """Call `work(report)` in one transaction: committed, or rolled back for a dry run
    or any failure (which is raised on)."""
    report = Report(vendor=vendor, dry_run=dry_run)
    try:
        work(report)
        db.session.flush()
    except BaseException:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return report


def pages(fetch: Callable[[int], tuple[list, bool]]) -> Iterator:
    """Every item of an offset-paginated list: `fetch(offset)` gives one page's items and
    whether there are more."""
    offset = 0
    while True:
        items, more = fetch(offset)
        yield from items
        if not more or not items:
            return
        offset += len(items)
