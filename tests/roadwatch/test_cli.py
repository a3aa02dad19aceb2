"""The command line, run in-process (replay, demo, config check) and as a process (run + SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from roadwatch.cli import main
from tests.support import RtspServer, free_port, last_json


def test_replay_counts_every_frame(
    sample_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gallery: {data_dir: g}\n")
    code = main(["replay", str(sample_clip), "--config", str(cfg), "--events", str(events), "--json"])
    summary = last_json(capsys.readouterr().out)
    assert code == 0
    assert summary["frames_read"] == summary["frames_processed"] == 40
    assert summary["frames_dropped"] == 0
    assert {"seconds", "fps", "stage_ms"} <= summary.keys()
    assert set(summary["stage_ms"]) == {"detect", "track", "shots", "embed", "read", "match", "sightings"}  # type: ignore[arg-type]
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"]  # type: ignore[operator]
    assert summary["camera_latency_p95_ms"] == {"sample": summary["latency_p95_ms"]}
    detection = summary["detection"]
    assert detection["detected"] + detection["skipped_still"] == 40  # type: ignore[index]
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["state"] for e in lines if e["kind"] == "camera.state"] == ["connecting", "streaming", "ended"]
    assert {e["camera_id"] for e in lines} == {"sample"}


def test_replay_of_image_folder_with_camera_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2
    import numpy as np

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:03d}.png"), np.full((6, 6, 3), i, np.uint8))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gallery: {data_dir: g}\n")
    code = main(
        [
            "replay",
            str(frames),
            "--config",
            str(cfg),
            "--camera-id",
            "gate-1",
            "--events",
            str(tmp_path / "e.jsonl"),
            "--json",
        ]
    )
    summary = last_json(capsys.readouterr().out)
    assert code == 0
    assert summary["frames_processed"] == 3
    assert summary["cameras"][0]["camera_id"] == "gate-1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.mp4", "no such file"),
        (lambda tmp: (tmp / "z.mp4", (tmp / "z.mp4").write_bytes(b""))[0], "empty file"),
        (lambda tmp: (tmp / "t.mp4", (tmp / "t.mp4").write_text("hello"))[0], "not a readable video"),
    ],
    ids=["missing", "zero-bytes", "text"],
)
def test_replay_bad_file_gives_one_line(
    make, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    code = main(["replay", str(make(tmp_path)), "--events", str(tmp_path / "e.jsonl"), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1
    assert message in errors[0]
    assert "Traceback" not in captured.err
    assert last_json(captured.out)["frames_read"] == 0


def test_replay_rejects_bad_camera_id(sample_clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(sample_clip), "--camera-id", "bad id!"]) == 2
    assert "--camera-id" in capsys.readouterr().err


DEMO_KEYS = {
    "frames",
    "vehicles_truth",
    "passes_truth",
    "events",
    "identities",
    "identities_truth",
    "reid_precision",
    "reid_recall",
    "events_per_pass",
    "seconds",
    "fps",
    "stage_ms",
}


ALERT_KEYS = {
    "escapes_truth",
    "escape_alerts",
    "escape_alerts_correct",
    "watchlist_truth",
    "watchlist_alerts",
    "watchlist_alerts_correct",
    "alert_latency_p95_ms",
}


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--seconds", "6", "--receiver", "--json"]) == 0
    out = capsys.readouterr().out
    summary = last_json(out)
    assert summary.keys() >= DEMO_KEYS | ALERT_KEYS
    alerts_log = tmp_path / "run" / "alerts.jsonl"
    alerts = [json.loads(line) for line in alerts_log.read_text().splitlines()] if alerts_log.exists() else []
    assert summary["escape_alerts"] == sum(a["kind"] == "escape" for a in alerts)
    assert summary["watchlist_alerts"] == sum(a["kind"] == "watchlist" for a in alerts)
    assert summary["webhook_received"] == len(alerts)  # the local receiver got each alert
    assert summary["webhook_duplicates"] == 0
    assert (summary["alert_latency_p95_ms"] is None) == (not alerts)
    assert summary["frames"] == 3 * 60  # 3 cameras, 6 s at 10 fps: every frame processed
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    finals = [e for e in events if e["kind"] == "sighting" and e["status"] == "final"]
    assert summary["events"] == len(finals)
    assert summary["identities"] == len({e["identity"] for e in finals if e["identity"] is not None})
    assert 0 <= summary["reid_precision"] <= 1
    assert 0 <= summary["reid_recall"] <= 1
    assert Path(str(summary["contact_sheet"])).stat().st_size > 0
    assert (tmp_path / "toll-road-seed7-6s" / "truth" / "gate.json").is_file()


def test_config_check_prints_resolved_config_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "cameras:\n  - {id: a, kind: rtsp, url: 'rtsp://u:hunter2@h/s'}\n"
        "  - {id: b, kind: file, path: clips/b.mp4}\n"
        "gallery: {password: hunter2}\n"
    )
    assert main(["config", "check", str(cfg), "--json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    data = last_json(out)
    assert data["cameras"][0]["url"] == "rtsp://u:***@h/s"  # type: ignore[index]
    assert data["cameras"][1]["path"] == str(tmp_path / "clips" / "b.mp4")  # type: ignore[index]
    assert data["gallery"]["fusion_threshold"] == 0.9  # type: ignore[index]


def test_config_check_names_each_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "cameras:\n"
        "  - {id: a, kind: rtsp, url: 'rtsp://h/s'}\n"
        "  - {id: a, kind: file, path: x.mp4}\n"
        "  - {id: c, kind: rtsp, url: 'rtsp://h/s', fps_cap: -5}\n"
        "colour: red\n"
    )
    assert main(["config", "check", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any("cameras[2].fps_cap" in line and "-5" in line for line in err)
    assert any(
        line.endswith(
            "colour: unknown key (known: cameras, streams, detectors, links, tracking, recognition, reid, "
            "plates, gallery, alerts, outputs, api)"
        )
        for line in err
    )
    assert all(line.startswith("roadwatch: error: ") for line in err)


def test_run_without_cameras_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cameras: []\n")
    assert main(["run", "--config", str(cfg)]) == 2
    assert "no enabled cameras" in capsys.readouterr().err


def _wait_for_line(path: Path, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and needle in path.read_text()):
        assert time.monotonic() < deadline, f"{needle!r} not in {path} after {timeout} s"
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_shuts_down_cleanly_on_signal(
    sig: signal.Signals, rtsp_server: Callable[[], RtspServer], tmp_path: Path
) -> None:
    server = rtsp_server()
    events = tmp_path / "events.jsonl"
    cfg = tmp_path / "live.yaml"
    cfg.write_text(
        "cameras:\n"
        f"  - {{id: live, kind: rtsp, url: '{server.url}'}}\n"
        f"  - {{id: dead, kind: rtsp, url: 'rtsp://127.0.0.1:{free_port()}/x', open_timeout_s: 1}}\n"
        f"outputs: {{events_path: {events.name}}}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "roadwatch", "run", "--config", str(cfg), "--json", "--status-every", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_for_line(events, '"state":"streaming"', 20)
        _wait_for_line(events, '"state":"backoff"', 20)  # the dead camera backs off, live one flows
        time.sleep(1.0)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    summary = last_json(out)
    cameras = {c["camera_id"]: c for c in summary["cameras"]}  # type: ignore[attr-defined]
    assert cameras["live"]["frames_read"] > 0
    assert cameras["dead"]["frames_read"] == 0
    assert summary["frames_processed"] > 0
    # every reader joined and the log was flushed: each camera's last event is its final state
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    last = {e["camera_id"]: e["state"] for e in lines if e["kind"] == "camera.state"}
    assert last == {"live": "ended", "dead": "ended"}
    assert summary["events"] == len(lines)
    assert "Traceback" not in err


def test_synth_command_json_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "world"
    code = main(["synth", "--scenario", "toll-road", "--out", str(out), "--duration", "1", "--json"])
    summary = last_json(capsys.readouterr().out)
    assert code == 0
    assert {"frames", "vehicles", "sightings", "escapes", "seconds"} <= summary.keys()
    assert summary["frames"] == 3 * 10  # three cameras, 1 s at 10 fps
    assert sorted(p.name for p in (out / "videos").iterdir()) == ["entry.mp4", "exit.mp4", "gate.mp4"]


def test_synth_unknown_scenario_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--scenario", "motorway", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no such scenario" in err[0]


def test_bench_synth_prints_frames_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "synth", "--frames", "5", "--json"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["frames"] == 5
    assert result["fps"] > 0


def test_replay_annotate_writes_every_frame(
    sample_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    cfg = tmp_path / "c.yaml"
    cfg.write_text("gallery: {data_dir: g}\n")
    out = tmp_path / "seen.mp4"
    args = ["replay", str(sample_clip), "--config", str(cfg), "--events", str(tmp_path / "e.jsonl")]
    assert main([*args, "--annotate", str(out), "--json"]) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["annotated_frames"] == 40
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (
        160,
        96,
    )


def test_demo_refuses_a_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path), "--seed", "-1"]) == 2
    assert "--seed must be >= 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--receiver-outage", "20,30"], "--receiver-outage needs --receiver"),
        (["--receiver", "--receiver-outage", "20"], "must be START,SECONDS"),
        (["--receiver", "--receiver-outage", "20,0"], "SECONDS > 0"),
    ],
)
def test_demo_refuses_a_bad_outage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["demo", "--dir", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before anything was rendered or run


def test_replay_annotate_to_an_unwritable_place_is_one_line(
    sample_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ["replay", str(sample_clip), "--events", str(tmp_path / "e.jsonl")]
    assert main([*args, "--annotate", str(blocker / "seen.mp4")]) == 2
    err = capsys.readouterr().err
    assert "seen.mp4" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("outputs: {snapshots_dir: blocker/snaps}\n", "outputs.snapshots_dir: "),
        ("outputs: {events_stream: false}\n", "alerts.enabled needs outputs.events_stream: true"),
        ("alerts: {jsonl_path: blocker/alerts.jsonl}\n", "cannot write alerts"),
    ],
    ids=["snapshots-dir", "alerts-without-stream", "alert-log"],
)
def test_outputs_that_cannot_work_are_refused_at_start(
    sample_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, message: str
) -> None:
    (tmp_path / "blocker").write_text("a file where a folder should be")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"gallery: {{data_dir: g}}\n{yaml_text}")
    code = main(["replay", str(sample_clip), "--config", str(cfg), "--events", str(tmp_path / "e.jsonl")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bench_pipeline_reports_its_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "bench",
        "pipeline",
        "--cameras",
        "2",
        "--fps",
        "5",
        "--seconds",
        "2",
        "--plain-frames",
        "4",
        "--bad",
        "fast",
    ]
    assert main([*argv, "--dir", str(tmp_path), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r.keys() >= {
        "cameras", "fps_offered", "fps_processed", "frames_dropped", "latency_p50_ms", "latency_p95_ms",
        "cpu_percent", "rss_mb", "stage_ms", "plain_fps", "speedup_vs_plain",
    }  # fmt: skip
    assert r["cameras"] == 2
    assert r["fps_offered"] == 15.0  # the second camera at twice its rate
    assert (
        r["frames_offered"] == r["frames_processed"] + r["frames_dropped"] == 10 + 20
    )  # 2 s at 5 and 10 fps
    assert r["bad_camera"] == {"camera": "cam2", "kind": "fast"}
    assert [(c["camera"], c["frames_offered"]) for c in r["per_camera"]] == [("cam1", 10), ("cam2", 20)]
    assert all(c["latency_p95_ms"] > 0 for c in r["per_camera"])
    assert r["plain_fps"] > 0
    assert r["speedup_vs_plain"] == pytest.approx(r["fast_fps"] / r["plain_fps"], rel=0.02)
    assert r["plain_onnx_fps"] > 0
    assert r["speedup_vs_plain_onnx"] == pytest.approx(r["fast_fps"] / r["plain_onnx_fps"], rel=0.02)
