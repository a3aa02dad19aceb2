"""What the API reads from Redis: sightings and alerts from their streams, identities from the
gallery's records. The API never touches the pipeline's objects (APP-DESIGN.md), so an API
process can serve any number of worker processes that share one Redis.

Sightings are written twice to ``<ns>:events`` (``provisional`` as soon as the identity is
known, ``final`` when the track ends; both with the same id). Lists read the stream newest
first and keep the newest version of each sighting, so a final one hides its provisional one.
A page ends after ``limit`` sightings or after ``scan`` stream entries; ``next`` is the stream
position to continue from (exclusive), None at the stream's start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.search import parse_seen
from gallery.store import GalleryStore

Record = dict[str, Any]
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SightingQuery:
    """Filters of a sightings list (all optional; they combine with AND)."""

    camera: str | None = None
    identity: int | None = None
    plate: str | None = None  # substring of the plain plate text, case-insensitive
    since: float | None = None  # unix time (the event's wall time), inclusive
    until: float | None = None  # unix time, inclusive
    status: str = "final"  # final, or any (the newest version of each sighting)

    def keeps(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (a sighting event) passes every filter."""
        if self.status == "final" and record.get("status") != "final":
            return False
        if self.camera is not None and record.get("camera_id") != self.camera:
            return False
        if self.identity is not None and record.get("identity") != self.identity:
            return False
        if self.plate:
            text = str(record.get("plate_text") or "").replace(" ", "").upper()
            if self.plate.replace(" ", "").upper() not in text:
                return False
        return True


@dataclass(slots=True)
class Page:
    """One page of a list."""

    items: list[Record] = field(default_factory=list)
    next: str | None = None
    scanned: int = 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _before(position: str) -> str:
    """The stream id just before ``position`` (XREVRANGE's ``max`` is inclusive)."""
    ms, _, seq = position.partition("-")
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-18446744073709551615" if int(ms) > 0 else "0-0"


class Reads:
    """Read-only views over the run's Redis.

    Args:
        client: A connected ``redis.Redis``.
        namespace: The gallery's key namespace.
        snapshots_dir: Where snapshots are written; their paths become ``/api/snapshots/…`` URLs.
    """

    def __init__(self, client: Any, namespace: str, snapshots_dir: Path | None) -> None:
        self.client = client
        self.namespace = namespace
        self.events_key = f"{namespace}:events"
        self.alerts_key = f"{namespace}:alerts"
        self.store = GalleryStore(client, namespace=namespace)
        self.snapshots_dir = snapshots_dir.resolve() if snapshots_dir is not None else None

    # -- streams ---------------------------------------------------------------------------

    def _newest_first(
        self, key: str, start: str | None, since: float | None, until: float | None, scan: int
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """Stream entries from ``start`` (exclusive; None: the newest) back to ``since``."""
        top = _before(start) if start else (f"{int(until * 1000)}-18446744073709551615" if until else "+")
        bottom = f"{int(since * 1000)}-0" if since else "-"
        left = scan
        while left > 0:
            rows = self.client.xrevrange(key, max=top, min=bottom, count=min(_CHUNK, left))
            if not rows:
                return
            for entry_id, raw in rows:
                yield _text(entry_id), _fields(raw)
            left -= len(rows)
            last = _text(rows[-1][0])
            if last == "0-0" or len(rows) < min(_CHUNK, left + len(rows)):
                return
            top = _before(last)

    def _page(
        self,
        key: str,
        pick: Callable[[dict[str, str]], Record | None],
        *,
        limit: int,
        after: str | None,
        scan: int,
        since: float | None = None,
        until: float | None = None,
    ) -> Page:
        """Entries of ``key`` newest first that ``pick`` turns into items (None: skipped)."""
        page = Page()
        last = None
        for entry_id, fields in self._newest_first(key, after, since, until, scan):
            page.scanned += 1
            last = entry_id
            item = pick(fields)
            if item is None:
                continue
            page.items.append(item)
            if len(page.items) >= limit:
                page.next = entry_id
                return page
        page.next = last if page.scanned >= scan else None
        return page

    def sightings(
        self, query: SightingQuery, *, limit: int = 50, after: str | None = None, scan: int = 20_000
    ) -> Page:
        """Sightings newest first (see the module docstring for versions and paging; with
        ``status="any"`` a sighting whose final version ends one page may show its provisional
        one on the next)."""
        seen: set[str] = set()

        def pick(fields: dict[str, str]) -> Record | None:
            sighting_id = fields.get("id", "")
            if fields.get("kind") != "sighting" or sighting_id in seen:
                return None
            seen.add(sighting_id)
            record = self._event(fields.get("event", ""))
            return self.sighting_view(record) if record is not None and query.keeps(record) else None

        return self._page(
            self.events_key, pick, limit=limit, after=after, scan=scan, since=query.since, until=query.until
        )

    def sighting(self, sighting_id: str, scan: int = 100_000) -> Record | None:
        """The newest version of one sighting, or None when the stream no longer has it."""
        for _, fields in self._newest_first(self.events_key, None, None, None, scan):
            if fields.get("kind") == "sighting" and fields.get("id") == sighting_id:
                record = self._event(fields.get("event", ""))
                return self.sighting_view(record) if record is not None else None
        return None

    def alerts(
        self,
        *,
        limit: int = 50,
        after: str | None = None,
        kind: str | None = None,
        camera: str | None = None,
        scan: int = 20_000,
    ) -> Page:
        """Alerts newest first."""

        def pick(fields: dict[str, str]) -> Record | None:
            alert = self._event(fields.get("alert", ""))
            if (
                alert is None
                or (kind and alert.get("kind") != kind)
                or (camera and alert.get("camera") != camera)
            ):
                return None
            return self.alert_view(alert)

        return self._page(self.alerts_key, pick, limit=limit, after=after, scan=scan)

    @staticmethod
    def _event(line: str) -> Record | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    # -- views -----------------------------------------------------------------------------

    def snapshot_urls(self, snapshots: Mapping[str, Any]) -> dict[str, str]:
        """``frame``/``vehicle``/``plate`` paths as URLs under ``/api/snapshots/`` (paths outside
        the snapshot folder are left out)."""
        if self.snapshots_dir is None or not isinstance(snapshots, Mapping):
            return {}
        out = {}
        for kind, path in snapshots.items():
            try:
                relative = Path(str(path)).resolve().relative_to(self.snapshots_dir)
            except (ValueError, OSError):
                continue
            out[str(kind)] = "/api/snapshots/" + relative.as_posix()
        return out

    def sighting_view(self, record: Mapping[str, Any]) -> Record:
        """A sighting event as the API shows it: the event's fields, ``camera`` for
        ``camera_id``, snapshot URLs in ``snapshot_urls``."""
        out = dict(record)
        out["camera"] = out.pop("camera_id", "")
        out.pop("kind", None)
        out["snapshot_urls"] = self.snapshot_urls(record.get("snapshots") or {})
        return out

    def alert_view(self, alert: Mapping[str, Any]) -> Record:
        """An alert as the API shows it (with snapshot URLs)."""
        out = dict(alert)
        out["snapshot_urls"] = self.snapshot_urls(alert.get("snapshots") or {})
        return out

    # -- identities ------------------------------------------------------------------------

    def identity(self, identity: int, *, limit: int = 200) -> Record | None:
        """One identity: its gallery record and its sightings across cameras, newest first."""
        records = self.store.records([identity])
        record = records[0] if records else {}
        if not record:
            return None
        page = self.sightings(SightingQuery(identity=identity), limit=limit, scan=100_000)
        cameras = sorted({s["camera"] for s in page.items})
        return {
            "identity": identity,
            "plate": record.get("plate", ""),
            "vehicle_type": record.get("type", ""),
            "colour": record.get("colour", ""),
            "sightings_count": int(record.get("sightings", "0") or 0),
            "last_seen": [{"camera": c, "time": t} for c, t in parse_seen(record.get("seen", ""))],
            "cameras": cameras,
            "sightings": page.items,
        }

    def thumbnails(self, identities: Sequence[int], scan: int = 20_000) -> dict[int, str]:
        """The newest vehicle snapshot URL of each identity (those found within ``scan`` entries)."""
        wanted, out = set(identities), {}
        for _, fields in self._newest_first(self.events_key, None, None, None, scan):
            if not wanted:
                break
            if fields.get("kind") != "sighting":
                continue
            record = self._event(fields.get("event", ""))
            if record is None or record.get("identity") not in wanted:
                continue
            url = self.snapshot_urls(record.get("snapshots") or {}).get("vehicle")
            if url:
                out[int(record["identity"])] = url
                wanted.discard(record["identity"])
        return out

    def counts(self) -> dict[str, int]:
        """Stream lengths and the gallery's size, for health and metrics."""
        pipe = self.client.pipeline()
        pipe.xlen(self.events_key)
        pipe.xlen(self.alerts_key)
        events, alerts = pipe.execute()
        return {"events": int(events), "alerts": int(alerts), "identities": self.store.last_id()}
