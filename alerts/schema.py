"""The alert event: versioned, with a deterministic id (docs/ALERTS.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import time as _now
from typing import Any

ALERT_SCHEMA = 1


def alert_id(kind: str, sighting_id: str, key: str) -> str:
    """16 hex digits of SHA-1 over the rule, the sighting and the rule's own key (the watchlist
    entry, or the entry sighting of an escape): the same footage gives the same alert ids, and a
    rule that sees the same sighting twice gives the same alert twice, which delivery drops."""
    return hashlib.sha1(f"{kind}\x00{sighting_id}\x00{key}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert (schema :data:`ALERT_SCHEMA`).

    Attributes:
        id: :func:`alert_id`.
        kind: ``escape`` or ``watchlist``.
        severity: ``info``, ``warning`` or ``critical``.
        camera: Camera of the sighting that raised it.
        time: That sighting's first frame time.
        identity: The sighting's gallery identity (None when it has none).
        plate_text: The sighting's plate read ('' when none).
        sighting: The sighting event's fields, as written to the event log.
        rule: What fired: for ``escape`` the entry sighting, the gate cameras and the delay; for
            ``watchlist`` the entry, how it matched and the distance.
        snapshots: The sighting's snapshot paths (``frame``, ``vehicle``, ``plate``).
        message: One line for people.
        wall_time: Unix time the alert was made.
    """

    id: str
    kind: str
    severity: str
    camera: str
    time: float
    identity: int | None
    plate_text: str
    sighting: Mapping[str, Any]
    rule: Mapping[str, Any]
    snapshots: Mapping[str, str] = field(default_factory=dict)
    message: str = ""
    wall_time: float = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready alert."""
        return {
            "schema": ALERT_SCHEMA,
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "camera": self.camera,
            "time": self.time,
            "identity": self.identity,
            "plate_text": self.plate_text,
            "message": self.message,
            "sighting": dict(self.sighting),
            "rule": dict(self.rule),
            "snapshots": dict(self.snapshots),
            "wall_time": round(self.wall_time, 6),
        }

    def to_json(self) -> str:
        """One compact JSON object."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        """An alert from :meth:`to_dict` (e.g. read back from a spool)."""
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            severity=str(data["severity"]),
            camera=str(data["camera"]),
            time=float(data["time"]),
            identity=data.get("identity"),
            plate_text=str(data.get("plate_text", "")),
            sighting=dict(data.get("sighting", {})),
            rule=dict(data.get("rule", {})),
            snapshots=dict(data.get("snapshots", {})),
            message=str(data.get("message", "")),
            wall_time=float(data.get("wall_time", 0.0)),
        )
