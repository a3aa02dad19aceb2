"""The alert rules: the toll/escape rule and the watchlist rule.

Both take final sightings as the event log writes them (plain dicts: ``id``, ``camera_id``,
``first_time``, ``last_time``, ``identity``, ``plate_text``, ``vehicle_type``, ``snapshots`` ...), in
the order the sighting stream holds them, from every camera, and return the alerts they raise.
They keep only what they need in memory, trimmed to their time windows.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from alerts.schema import Alert, alert_id
from alerts.watchlist import Hit, WatchEntry, Watchlist, plain_plate

Sighting = Mapping[str, Any]
MIN_PLATE_CHARS = 4  # shorter reads are too ambiguous to stand for a vehicle


def _alert(
    kind: str, sighting: Sighting, key: str, severity: str, rule: dict[str, Any], message: str
) -> Alert:
    return Alert(
        id=alert_id(kind, str(sighting["id"]), key),
        kind=kind,
        severity=severity,
        camera=str(sighting.get("camera_id", "")),
        time=float(sighting.get("first_time", sighting.get("time", 0.0))),
        identity=sighting.get("identity"),
        plate_text=str(sighting.get("plate_text") or ""),
        sighting=dict(sighting),
        rule=rule,
        snapshots=dict(sighting.get("snapshots") or {}),
        message=message,
    )


def _brief(sighting: Sighting) -> dict[str, Any]:
    """The fields of a sighting another alert refers to."""
    keys = ("id", "camera_id", "first_time", "last_time", "identity", "plate_text", "snapshots")
    return {k: sighting.get(k) for k in keys}


@dataclass(frozen=True, slots=True)
class TollOptions:
    """Where trips start, pay and end, how long a trip may take, and how long the road between
    an entry and an exit camera takes (``travel``: ``(entry, exit)`` → ``(min_s, max_s)``, from
    the config's camera links; pairs without a link are not bounded)."""

    entry_cameras: frozenset[str]
    gate_cameras: frozenset[str]
    exit_cameras: frozenset[str]
    max_delay_s: float
    severity: str = "critical"
    travel: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)


# Classes a detector mixes up with each other: a plate tie across them is still one vehicle.
_TYPE_GROUPS = ({"car", "suv"}, {"truck", "bus"})


def same_kind(a: str, b: str) -> bool:
    """Two sightings' classes could be one vehicle (equal, or both cars/SUVs, both trucks/buses;
    an unknown class never contradicts)."""
    return not a or not b or a == b or any(a in g and b in g for g in _TYPE_GROUPS)


class TollRule:
    """``escape``: an identity seen at an entry camera, then at an exit camera within
    ``max_delay_s``, with no toll-gate sighting in between.

    The exit belongs to a trip when it has the trip's identity, or, when the gallery gave it an
    identity no open trip has, when its plate read equals the trip's entry read (at least
    :data:`MIN_PLATE_CHARS` characters), its class could be the entry's (:func:`same_kind`) and it
    came within the road's travel time (``options.travel``): a cloned plate on another kind of
    vehicle, or one that could not have driven the road that fast, is not the trip
    (``matched_by`` says ``identity`` or ``plate``). A gate sighting counts for
    the trip when it has the trip's identity, or when its plate read equals the entry's or the
    exit's: a gate sighting that the gallery gave another identity does not make a paying
    vehicle an escape.
    One alert per entry sighting.
    """

    def __init__(self, options: TollOptions) -> None:
        self.options = options
        self._entries: dict[int, Sighting] = {}
        self._gates: deque[tuple[float, int | None, str]] = deque()  # (last_time, identity, plain plate)
        self._latest = float("-inf")

    def observe(self, sighting: Sighting) -> list[Alert]:
        """Take one final sighting; the escape alert it completes, if any."""
        camera = sighting.get("camera_id")
        identity = sighting.get("identity")
        first, last = float(sighting["first_time"]), float(sighting["last_time"])
        self._latest = max(self._latest, last)
        self._trim()
        alerts = []
        if camera in self.options.exit_cameras:
            entry = self._entries.get(identity) if identity is not None else None
            by = "identity"
            if entry is None:
                entry, by = self._same_plate(sighting), "plate"
            if entry is not None and float(entry["first_time"]) <= first:
                delay = first - float(entry["last_time"])
                if delay <= self.options.max_delay_s and not self._paid(entry, sighting):
                    self._entries.pop(entry["identity"])
                    alerts.append(self._escape(entry, sighting, delay, by))
        if camera in self.options.gate_cameras:
            self._gates.append((last, identity, plain_plate(str(sighting.get("plate_text") or ""))))
            if identity is not None:
                self._entries.pop(identity, None)  # paid: the trip is closed
        if camera in self.options.entry_cameras and identity is not None:
            self._entries[identity] = sighting
        return alerts

    def _same_plate(self, exit_: Sighting) -> Sighting | None:
        """The latest open trip whose entry read the exit's plate (:data:`MIN_PLATE_CHARS` or more
        characters): the gallery gave the exit a new identity, the plate says it is that vehicle."""
        plate = plain_plate(str(exit_.get("plate_text") or ""))
        if len(plate) < MIN_PLATE_CHARS:
            return None
        same = [
            e
            for e in self._entries.values()
            if plain_plate(str(e.get("plate_text") or "")) == plate
            and same_kind(str(e.get("vehicle_type") or ""), str(exit_.get("vehicle_type") or ""))
            and self._on_time(e, exit_)
        ]
        return max(same, key=lambda e: float(e["first_time"]), default=None)

    def _on_time(self, entry: Sighting, exit_: Sighting) -> bool:
        """The exit came within the road's travel time after the entry (when a link says it)."""
        window = self.options.travel.get((str(entry.get("camera_id")), str(exit_.get("camera_id"))))
        if window is None:
            return True
        took = float(exit_["first_time"]) - float(entry["first_time"])
        return window[0] <= took <= window[1]

    def _paid(self, entry: Sighting, exit_: Sighting) -> bool:
        start, end = float(entry["first_time"]), float(exit_["last_time"])
        plates = {plain_plate(str(s.get("plate_text") or "")) for s in (entry, exit_)}
        plates = {p for p in plates if len(p) >= MIN_PLATE_CHARS}
        ours = {exit_.get("identity"), entry.get("identity")} - {None}
        return any(start <= t <= end and (who in ours or plate in plates) for t, who, plate in self._gates)

    def _escape(self, entry: Sighting, exit_: Sighting, delay: float, by: str) -> Alert:
        plate = exit_.get("plate_text") or entry.get("plate_text") or "no plate read"
        message = (
            f"escape: identity {exit_.get('identity')} ({plate}) entered at {entry.get('camera_id')} "
            f"{float(entry['first_time']):.1f} s, left at {exit_.get('camera_id')} "
            f"{float(exit_['first_time']):.1f} s, no toll gate in between"
        )
        rule = {
            "name": "toll",
            "entry": _brief(entry),
            "gate_cameras": sorted(self.options.gate_cameras),
            "delay_s": round(delay, 3),
            "max_delay_s": self.options.max_delay_s,
            "matched_by": by,
        }
        alert = _alert("escape", exit_, str(entry["id"]), self.options.severity, rule, message)
        return _raised_by(alert, exit_)

    def _trim(self) -> None:
        horizon = self._latest - self.options.max_delay_s
        while self._gates and self._gates[0][0] < horizon:
            self._gates.popleft()
        for identity in [i for i, s in self._entries.items() if float(s["last_time"]) < horizon]:
            del self._entries[identity]


class WatchRule:
    """``watchlist``: a sighting that matches an entry.

    With ``follow_identity`` a plate match also marks the sighting's identity: the identity's
    other sightings within ``lookback_s`` (before, when they were not yet known to be that
    vehicle, and after, when the plate was not read) alert for the same entry, so a pass whose
    plate went unread is still reported. Each (sighting, entry) alerts once.
    """

    def __init__(
        self, watchlist: Watchlist, *, follow_identity: bool = True, lookback_s: float = 600.0
    ) -> None:
        self.watchlist = watchlist
        self.follow_identity = follow_identity
        self.lookback_s = lookback_s
        self._marked: dict[int, tuple[WatchEntry, float]] = {}
        self._recent: dict[int, deque[Sighting]] = defaultdict(deque)
        self._alerted: dict[tuple[str, str], float] = {}
        self._latest = float("-inf")

    def replace(self, watchlist: Watchlist) -> None:
        """Use a changed watchlist (marks of entries no longer on it are dropped)."""
        ids = {e.id for e in watchlist.entries}
        self._marked = {i: m for i, m in self._marked.items() if m[0].id in ids}
        self.watchlist = watchlist

    def observe(self, sighting: Sighting) -> list[Alert]:
        """Take one final sighting; the watchlist alerts it raises (its own, and with identity
        following, earlier sightings of a vehicle just recognised)."""
        identity = sighting.get("identity")
        last = float(sighting["last_time"])
        self._latest = max(self._latest, last)
        self._trim()
        alerts = [self._make(sighting, hit) for hit in self.watchlist.match(sighting)]
        direct = {a.rule["entry"]["id"] for a in alerts}
        if self.follow_identity and identity is not None:
            marked = self._marked.get(identity)
            if marked is not None and marked[0].id not in direct:
                alerts.append(self._make(sighting, Hit(marked[0], "identity")))
            for alert in list(alerts):
                entry = WatchEntry.from_dict(alert.rule["entry"])
                if entry.match in ("plate", "plate_regex", "plate_fuzzy"):  # a plate match, partial too
                    self._marked[identity] = (entry, last)
                    alerts += [self._make(s, Hit(entry, "identity")) for s in self._recent[identity]]
            self._recent[identity].append(sighting)
        fresh = []
        for alert in alerts:
            key = (str(alert.sighting["id"]), str(alert.rule["entry"]["id"]))
            if key not in self._alerted:
                self._alerted[key] = last
                fresh.append(alert)
        return [_raised_by(a, sighting) for a in fresh]

    def _make(self, sighting: Sighting, hit: Hit) -> Alert:
        entry = hit.entry
        plate = sighting.get("plate_text") or "no plate read"
        how = {
            "identity": f"identity {sighting.get('identity')} of an earlier plate match",
            "plate_fuzzy": f"plate within {hit.distance:g} of {entry.value}",
            "plate_partial": f"a read missing {hit.distance:g} character(s) at one end",
        }.get(hit.how, hit.how.replace("_", " "))
        message = (
            f"watchlist {entry.value} ({entry.note or entry.match}): {plate} at "
            f"{sighting.get('camera_id')} {float(sighting['first_time']):.1f} s, matched by {how}"
        )
        rule = {"name": "watchlist", "entry": entry.to_dict(), "how": hit.how, "distance": hit.distance}
        return _alert("watchlist", sighting, entry.id, entry.severity, rule, message)

    def _trim(self) -> None:
        horizon = self._latest - self.lookback_s
        for identity in list(self._recent):
            recent = self._recent[identity]
            while recent and float(recent[0]["last_time"]) < horizon:
                recent.popleft()
            if not recent:
                del self._recent[identity]
        self._marked = {i: m for i, m in self._marked.items() if m[1] >= horizon}
        self._alerted = {k: t for k, t in self._alerted.items() if t >= horizon}


def _raised_by(alert: Alert, trigger: Sighting) -> Alert:
    """The alert with the sighting that raised it (itself, or a later sighting of the same
    identity) and when that sighting was written: an alert's latency runs from there."""
    raised = {"id": trigger.get("id"), "wall_time": trigger.get("wall_time")}
    return replace(alert, rule={**alert.rule, "raised_by": raised})
