"""Watchlists: plates (exact, regular expression, or within an OCR-aware edit distance),
identities, vehicle types and colours to alert on, held in Redis so that every worker and the
API share them.

A plate is compared in its plain form: upper case, spaces, dashes and dots removed
(``AB-123 CD`` is ``AB123CD``). The fuzzy distance is Levenshtein's, except that swapping two
characters an OCR engine confuses (``0``/``O``/``D``/``Q``, ``1``/``I``/``L``, ``8``/``B``, ``5``/``S``,
``2``/``Z``, ``6``/``G``, ``4``/``A``, ``7``/``T``) costs :data:`CONFUSION_COST` instead of 1.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

MatchKind = Literal["plate", "plate_regex", "plate_fuzzy", "identity", "vehicle_type", "colour"]
MATCH_KINDS: tuple[MatchKind, ...] = (
    "plate",
    "plate_regex",
    "plate_fuzzy",
    "identity",
    "vehicle_type",
    "colour",
)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
CONFUSION_COST = 0.5
_CONFUSABLE = ("0ODQ", "1IL", "8B", "5S", "2Z", "6G", "4A", "7T")
_PAIRS = frozenset((a, b) for group in _CONFUSABLE for a in group for b in group if a != b)
_STRIP = re.compile(r"[\s\-.·]")


class WatchlistError(ValueError):
    """A watchlist entry that cannot be used (the message names it)."""


def plain_plate(text: str) -> str:
    """A plate as compared: upper case, no spaces, dashes or dots."""
    return _STRIP.sub("", text).upper()


def ocr_distance(a: str, b: str) -> float:
    """Edit distance between two plain plates; confusable substitutions cost :data:`CONFUSION_COST`."""
    previous = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        current = [float(i)]
        for j, cb in enumerate(b, 1):
            swap = 0.0 if ca == cb else CONFUSION_COST if (ca, cb) in _PAIRS else 1.0
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + swap))
        previous = current
    return previous[-1]


@dataclass(frozen=True, slots=True)
class WatchEntry:
    """One watchlist entry.

    Attributes:
        id: Stable id (given, or derived from ``match`` and ``value``).
        match: What is compared: ``plate`` (exact), ``plate_regex`` (full match of the plain
            plate), ``plate_fuzzy`` (within ``max_distance``), ``identity`` (gallery id),
            ``vehicle_type`` or ``colour``.
        value: The plate, pattern, identity id, type or colour name.
        note: Shown with the alert.
        severity: ``info``, ``warning`` or ``critical``.
        max_distance: For ``plate_fuzzy``: the largest :func:`ocr_distance` that matches.
    """

    id: str
    match: MatchKind
    value: str
    note: str = ""
    severity: Severity = "warning"
    max_distance: float = 1.0

    @classmethod
    def make(
        cls,
        match: str,
        value: str,
        *,
        note: str = "",
        severity: str = "warning",
        max_distance: float = 1.0,
        entry_id: str | None = None,
    ) -> WatchEntry:
        """A checked entry (plates made plain, the regex compiled once to prove it).

        Raises:
            WatchlistError: An unknown match kind or severity, an empty value, an invalid
                regular expression, a non-numeric identity or a negative distance.
        """
        label = entry_id or f"{match} {value!r}"
        if match not in MATCH_KINDS:
            raise WatchlistError(f"watchlist entry {label}: match must be one of {', '.join(MATCH_KINDS)}")
        if severity not in SEVERITIES:
            raise WatchlistError(f"watchlist entry {label}: severity must be one of {', '.join(SEVERITIES)}")
        value = value.strip()
        if match in ("plate", "plate_fuzzy"):
            value = plain_plate(value)
        elif match in ("vehicle_type", "colour"):
            value = value.lower()
        if not value:
            raise WatchlistError(f"watchlist entry {label}: empty value")
        if match == "plate_regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise WatchlistError(f"watchlist entry {label}: invalid regular expression: {exc}") from None
        if match == "identity" and not value.isdigit():
            raise WatchlistError(f"watchlist entry {label}: identity must be a whole number, got {value!r}")
        if max_distance < 0:
            raise WatchlistError(f"watchlist entry {label}: max_distance must be >= 0")
        if entry_id is None:
            entry_id = hashlib.sha1(f"{match}\x00{value}".encode()).hexdigest()[:10]
        return cls(entry_id, match, value, note, severity, float(max_distance))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WatchEntry:
        """An entry from :meth:`to_dict`'s fields (checked again).

        Raises:
            WatchlistError: A missing or bad field.
        """
        try:
            return cls.make(
                str(data["match"]),
                str(data["value"]),
                note=str(data.get("note", "")),
                severity=str(data.get("severity", "warning")),
                max_distance=float(data.get("max_distance", 1.0)),
                entry_id=str(data["id"]) if data.get("id") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, WatchlistError):
                raise
            raise WatchlistError(f"watchlist entry {dict(data)!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Hit:
    """A sighting that matched an entry: how, and how close (0 for exact matches)."""

    entry: WatchEntry
    how: str
    distance: float = 0.0


PARTIAL_MIN_CHARS = 5
PARTIAL_MIN_SHARE = 0.7


def truncated(read: str, plate: str) -> bool:
    """``read`` is ``plate`` with characters lost at one end (a province glyph, a last letter):
    at least :data:`PARTIAL_MIN_CHARS` characters and :data:`PARTIAL_MIN_SHARE` of the plate."""
    return (
        len(read) < len(plate)
        and len(read) >= max(PARTIAL_MIN_CHARS, PARTIAL_MIN_SHARE * len(plate))
        and (plate.startswith(read) or plate.endswith(read))
    )


class Watchlist:
    """Entries compiled for matching sightings (plain dicts of the sighting event's fields).

    With ``partial`` (the default), a ``plate`` or ``plate_fuzzy`` entry also matches a read
    that lost characters at one end of the listed plate (:func:`truncated`; ``how`` is
    ``plate_partial``): readers drop a leading province glyph or a last character more often
    than they misread a whole plate into another listed one.
    """

    def __init__(self, entries: Iterable[WatchEntry], *, partial: bool = True) -> None:
        self.entries = tuple(entries)
        self.partial = partial
        self._regex = {e.id: re.compile(e.value) for e in self.entries if e.match == "plate_regex"}

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, sighting: Mapping[str, Any]) -> list[Hit]:
        """Every entry the sighting matches (``plate_text``, ``identity``, ``vehicle_type``,
        ``colour``)."""
        plate = plain_plate(str(sighting.get("plate_text") or ""))
        hits = []
        for entry in self.entries:
            hit = self._match(entry, plate, sighting)
            if hit is not None:
                hits.append(hit)
        return hits

    def _match(self, entry: WatchEntry, plate: str, sighting: Mapping[str, Any]) -> Hit | None:
        if entry.match in ("plate", "plate_fuzzy") and self.partial and truncated(plate, entry.value):
            return Hit(entry, "plate_partial", float(len(entry.value) - len(plate)))
        if entry.match == "plate":
            return Hit(entry, "plate") if plate and plate == entry.value else None
        if entry.match == "plate_regex":
            return Hit(entry, "plate_regex") if plate and self._regex[entry.id].fullmatch(plate) else None
        if entry.match == "plate_fuzzy":
            if not plate:
                return None
            distance = ocr_distance(plate, entry.value)
            return Hit(entry, "plate_fuzzy", distance) if distance <= entry.max_distance else None
        if entry.match == "identity":
            identity = sighting.get("identity")
            return Hit(entry, "identity") if identity is not None and str(identity) == entry.value else None
        field = str(sighting.get(entry.match) or "").lower()
        return Hit(entry, entry.match) if field and field == entry.value else None


class WatchlistStore:
    """The watchlist in Redis: a hash ``<namespace>:watchlist`` of entry id → JSON, and a version
    counter ``<namespace>:watchlist:version`` that readers poll to reload only after a change.

    Args:
        client: A connected ``redis.Redis`` (decoded or not).
        namespace: The gallery's key namespace.
    """

    def __init__(self, client: Any, namespace: str) -> None:
        self.client = client
        self.key = f"{namespace}:watchlist"
        self.version_key = f"{namespace}:watchlist:version"

    def add(self, entries: Sequence[WatchEntry]) -> int:
        """Add or replace entries (by id); the number written."""
        if not entries:
            return 0
        mapping = {e.id: json.dumps(e.to_dict(), ensure_ascii=False) for e in entries}
        pipe = self.client.pipeline()
        pipe.hset(self.key, mapping=mapping)
        pipe.incr(self.version_key)
        pipe.execute()
        return len(mapping)

    def remove(self, entry_id: str) -> bool:
        """Remove one entry; whether it was there."""
        removed = int(self.client.hdel(self.key, entry_id))
        if removed:
            self.client.incr(self.version_key)
        return removed > 0

    def entries(self) -> list[WatchEntry]:
        """Every entry, sorted by id.

        Raises:
            WatchlistError: A stored entry is not valid JSON or not a valid entry.
        """
        out = []
        for entry_id, raw in sorted(self.client.hgetall(self.key).items()):
            name = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            try:
                data = json.loads(raw)
            except ValueError:
                raise WatchlistError(f"{self.key} {name}: stored entry is not JSON") from None
            out.append(WatchEntry.from_dict({**data, "id": name}))
        return out

    def version(self) -> int:
        """The change counter (0 before the first change)."""
        return int(self.client.get(self.version_key) or 0)
