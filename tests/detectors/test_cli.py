"""The detector commands end to end on a tiny set: train, export, eval, detect, bench, gate errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from roadwatch.cli import main
from tests.support import last_json


def test_train_export_eval_detect_bench(
    yolo_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "detectors:\n  threads: 1\n"
        "  train: {input_size: [96, 160], warmup_steps: 1, threads: 1, checkpoint_every: 1}\n"
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "detector",
                "--data",
                str(yolo_set),
                "--config",
                str(cfg),
                "--out",
                str(run),
                "--steps",
                "2",
                "--json",
            ]
        )
        == 0
    )
    trained = last_json(capsys.readouterr().out)
    assert trained["steps"] == 2
    assert trained["images"] == 7
    assert (run / "loss.png").stat().st_size > 0

    assert main(["export", "detector", "--checkpoint", str(run / "checkpoint.pt"), "--json"]) == 0
    exported = last_json(capsys.readouterr().out)
    assert float(exported["parity_max_abs_diff"]) < 1e-4  # type: ignore[arg-type]

    common = ["--models", str(run), "--config", str(cfg), "--json"]
    assert main(["eval", "detect", "--data", str(yolo_set), "--split", "train", *common]) == 0
    report = last_json(capsys.readouterr().out)
    assert set(report) >= {
        "vehicle_ap50",
        "plate_ap50",
        "small_plate_recall",
        "small_plate_recall_single_pass",
        "frames",
        "ms_per_frame",
    }
    assert report["frames"] == 7
    assert 0.0 <= float(report["vehicle_ap50"]) <= 1.0  # type: ignore[arg-type]

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), np.zeros((90, 150, 3), np.uint8))
    out = tmp_path / "annotated.png"
    assert main(["detect", str(image), "--out", str(out), *common]) == 0
    drawn = last_json(capsys.readouterr().out)
    assert drawn["frames"] == 1
    assert cv2.imread(str(out)).shape == (90, 150, 3)

    assert main(["bench", "detect", "--frames", "2", *common]) == 0
    bench = last_json(capsys.readouterr().out)
    assert bench["frames"] == 2
    assert float(bench["ms_per_frame_p95"]) >= float(bench["ms_per_frame_p50"]) > 0  # type: ignore[arg-type]


def test_detector_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "detect", "--models", str(tmp_path), "--json"]) == 2
    assert "detector_features.onnx: no such model file" in capsys.readouterr().err
    assert main(["train", "detector", "--data", str(tmp_path / "none"), "--json"]) == 2
    assert "no detection data here" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    assert main(["export", "detector", "--checkpoint", str(bad)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert (
        main(
            [
                "detect",
                str(tmp_path / "nope.png"),
                "--out",
                str(tmp_path / "o.png"),
                "--models",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_gate_and_bench_refuse_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "out" / "detection" / "images" / "train"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "east_000000.jpg"), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "out" / "truth").mkdir()
    (tmp_path / "out" / "truth" / "east.json").write_text("{bad")
    assert main(["train", "gate", "--data", str(tmp_path / "out"), "--json"]) == 2
    assert "east.json: no readable truth for east_000000.jpg" in capsys.readouterr().err
    assert main(["bench", "detect", "--frames", "0", "--json"]) == 2
    assert "--frames must be >= 1" in capsys.readouterr().err
