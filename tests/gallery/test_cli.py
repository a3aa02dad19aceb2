"""``roadwatch gallery stats|export|import|prune``, ``search`` and ``bench gallery`` end to end on
the embedded Redis, plus search by image with the bundled re-id models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from config import load_config
from detectors.gate import GateResult
from gallery.connect import open_gallery
from gallery.gallery import Gallery
from gallery.search import parse_seen
from gallery.store import Sighting
from reid.embedder import Embedder
from roadwatch.app import REID_MODELS as BUNDLED_MODELS
from roadwatch.cli import main
from roadwatch.cli.gallery import parse_age
from roadwatch.search import search_image


def _config(tmp_path: Path, namespace: str = "cli") -> Path:
    path = tmp_path / "rw.yaml"
    path.write_text(f"gallery:\n  data_dir: {tmp_path / 'var'}\n  namespace: {namespace}\n")
    return path


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _fill(config: Path, n: int) -> None:
    gallery = open_gallery(load_config(config).gallery)
    rng = np.random.default_rng(0)
    for i in range(n):
        v = rng.normal(size=128)
        gallery.match({"vehicle": v}, Sighting("c1", 1000.0 * i, vehicle_type="car", colour="red"))
    gallery.store.client.shutdown(save=True)


def test_stats_export_import_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    _fill(config, 5)
    assert main(["gallery", "stats", "--config", str(config), "--json"]) == 0
    stats = _last_json(capsys)
    assert stats["identities"] == 5
    assert stats["libraries"] == {"fusion": 0, "plate": 0, "vehicle": 5}
    assert (stats["oldest_last_seen"], stats["newest_last_seen"]) == (0.0, 4000.0)

    assert main(["gallery", "export", str(tmp_path / "g.rwg"), "--config", str(config), "--json"]) == 0
    assert _last_json(capsys)["identities"] == 5
    (tmp_path / "o").mkdir()
    other = _config(tmp_path / "o", namespace="other")
    assert main(["gallery", "import", str(tmp_path / "g.rwg"), "--config", str(other), "--json"]) == 0
    assert _last_json(capsys)["imported"] == 5

    args = ["gallery", "prune", "--older-than", "2500s", "--now", "5000", "--config", str(config), "--json"]
    assert main(args) == 0
    assert _last_json(capsys)["removed"] == 3  # last seen at 0, 1000 and 2000 (< 2500)
    assert main(["gallery", "stats", "--config", str(config), "--json"]) == 0
    assert _last_json(capsys)["identities"] == 2


def test_bad_inputs_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    (tmp_path / "bad.rwg").write_bytes(b"junk")
    assert main(["gallery", "import", str(tmp_path / "bad.rwg"), "--config", str(config)]) == 2
    assert "not a gallery export" in capsys.readouterr().err
    assert main(["gallery", "prune", "--older-than", "soon", "--config", str(config)]) == 2
    assert "--older-than" in capsys.readouterr().err
    (tmp_path / "x.jpg").write_bytes(b"not a jpeg")
    assert main(["search", str(tmp_path / "x.jpg"), "--config", str(config)]) == 2
    assert "not an image" in capsys.readouterr().err
    assert main(["bench", "gallery", "--match-rate", "0"]) == 2
    assert "--match-rate must be > 0" in capsys.readouterr().err
    unreachable = tmp_path / "u.yaml"
    unreachable.write_text("gallery:\n  redis_url: redis://127.0.0.1:1/0\n  retries: 0\n  timeout_s: 0.5\n")
    assert main(["gallery", "stats", "--config", str(unreachable)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach redis://127.0.0.1:1/0" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45", 45.0)]
)
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def test_parse_seen() -> None:
    assert parse_seen("gate 2.5;exit cam 1.0;junk") == [("gate", 2.5), ("exit cam", 1.0)]
    assert parse_seen("") == []


class _Gate:
    """Stands in for the intent gate: answers vehicle or not as told."""

    def __init__(self, vehicle: bool) -> None:
        self.vehicle = vehicle

    def classify(self, crops: list[np.ndarray]) -> list[GateResult]:
        return [GateResult(self.vehicle, 0.9 if self.vehicle else 0.1, "car", 0.8, "red", 0.7) for _ in crops]


@pytest.fixture
def embedder() -> Embedder:
    return Embedder.from_files(BUNDLED_MODELS / "vehicle.onnx", BUNDLED_MODELS / "plate.onnx", threads=1)


# Body colours (BGR) far apart, so no two toy cars look alike to the vehicle network: random
# colours once drew two blues, which the network rightly called one vehicle (cosine 0.93).
_PAINT = ((40, 40, 220), (60, 200, 60), (220, 80, 30), (245, 245, 245), (30, 220, 230))


def _car(seed: int) -> np.ndarray:
    image = np.full((120, 200, 3), 90, np.uint8)
    cv2.rectangle(image, (20, 30), (180, 100), _PAINT[seed], -1)
    cv2.circle(image, (50, 100), 15, (10, 10, 10), -1)
    cv2.circle(image, (150, 100), 15, (10, 10, 10), -1)
    return image


def test_search_image_finds_an_enrolled_vehicle(tmp_path: Path, embedder: Embedder) -> None:
    gallery = open_gallery(load_config(_config(tmp_path)).gallery)
    for seed in range(5):
        vector = embedder.embed_vehicles([_car(seed)]).vectors[0]
        gallery.match({"vehicle": vector}, Sighting(f"cam{seed}", float(seed), vehicle_type="car"))
    found = search_image(_car(3), gate=_Gate(True), detector=None, embedder=embedder, gallery=gallery)  # type: ignore[arg-type]
    assert found.is_vehicle
    assert len(found.vehicles) == 1  # no detector: the whole picture is one vehicle
    hits = found.vehicles[0].hits
    assert hits[0].identity == 4  # enrolled from seed 3 (identities count from 1)
    assert hits[0].rank == pytest.approx(2.0, abs=1e-3)
    assert hits[0].last_seen == [("cam3", 3.0)]
    assert all(h.rank >= 1.08 for h in hits)


def test_search_image_refused_by_the_gate_searches_nothing(tmp_path: Path, embedder: Embedder) -> None:
    gallery: Gallery = open_gallery(load_config(_config(tmp_path)).gallery)
    found = search_image(_car(0), gate=_Gate(False), detector=None, embedder=embedder, gallery=gallery)  # type: ignore[arg-type]
    assert not found.is_vehicle
    assert found.vehicles == []


def test_search_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    cv2.imwrite(str(tmp_path / "car.png"), _car(1))
    assert main(["search", str(tmp_path / "car.png"), "--config", str(config), "--json"]) == 0
    out = _last_json(capsys)
    assert set(out) == {"is_vehicle", "vehicle_probability", "vehicles", "seconds"}
    if not out["is_vehicle"]:
        assert out["vehicles"] == []


def test_bench_gallery_json_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "b.yaml"
    config.write_text("gallery:\n  nlist: 16\n  nprobe: 4\n  train_at: 1000\n")
    args = ["bench", "gallery", "--size", "3000", "--queries", "40", "--config", str(config)]
    assert main([*args, "--enrolling-s", "2", "--workdir", str(tmp_path), "--json"]) == 0
    out = _last_json(capsys)
    keys = {"size", "enroll_per_s", "match_p50_ms", "match_p99_ms", "match_p99_ms_enrolling", "recall_at_1"}
    assert keys | {"restart_s", "rebuild_s", "rss_mb", "redis_mb"} <= set(out)
    assert out["size"] == 3000
    assert out["restart_from"] == "saved"
    assert out["restart_complete"]
    assert out["rebuild_complete"]
    assert 0.9 <= out["recall_at_1"] <= 1.0
