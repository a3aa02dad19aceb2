"""Held-out evaluation end to end on a tiny set: train a few steps, export, evaluate through the CLI."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from formats import PlateSample
from formats.veri import veri_name, write_plate_sidecar, write_veri_lists
from reid.data import TWO_LINE_ASPECT_KEY
from reid.embedder import Embedder, OnnxEncoder
from roadwatch.cli import main
from tests.support import last_json


def _write_split(
    root: Path, split: str, identities: range, crops_per_camera: int, rng: np.random.Generator
) -> None:
    names: list[str] = []
    plates: list[tuple[str, PlateSample]] = []
    folder = root / f"image_{split}"
    folder.mkdir(parents=True, exist_ok=True)
    for identity in identities:
        colour = np.random.default_rng(identity).integers(0, 256, 3)
        for camera in (1, 2):
            for k in range(crops_per_camera):
                crop = np.clip(colour + rng.normal(0, 10, (40, 40, 3)), 0, 255).astype(np.uint8)
                crop[26:34, 8:32] = 25 * (identity % 10)
                name = veri_name(identity, camera, 100 * camera + k, k)
                cv2.imwrite(str(folder / name), crop)
                names.append(name)
                corners = np.array([[8, 26], [32, 26], [32, 34], [8, 34]], np.float32)
                plates.append((name, PlateSample(folder / name, "AB123CD", (8, 26, 32, 34), corners, "eu")))
    write_veri_lists(root, {split: names})
    write_plate_sidecar(root / f"plates_{split}.csv", plates)


@pytest.fixture(scope="module")
def tiny_veri(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("veri")
    rng = np.random.default_rng(0)
    _write_split(root, "train", range(1, 9), 2, rng)
    _write_split(root, "query", range(20, 26), 1, rng)
    _write_split(root, "test", range(20, 26), 2, rng)
    return root


def test_train_export_eval_and_bench_through_the_cli(
    tiny_veri: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "reid:\n  vehicle_input: [32, 32]\n  plate_input: [16, 96]\n"
        "  train: {identities_per_batch: 4, samples_per_identity: 2, warmup_steps: 1, threads: 1}\n"
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "reid",
                "--data",
                str(tiny_veri),
                "--config",
                str(cfg),
                "--out",
                str(run),
                "--steps",
                "3",
                "--json",
            ]
        )
        == 0
    )
    trained = last_json(capsys.readouterr().out)
    assert trained["steps"] == 3
    assert float(trained["parity_max_abs_diff"]) <= 1e-4  # type: ignore[arg-type]
    assert (run / "loss.png").stat().st_size > 0

    assert (
        main(
            [
                "export",
                "reid",
                "--checkpoint",
                str(run / "checkpoint.pt"),
                "--out",
                str(tmp_path / "x"),
                "--json",
            ]
        )
        == 0
    )
    exported = last_json(capsys.readouterr().out)
    assert float(exported["vehicle_parity_max_abs_diff"]) <= 1e-4  # type: ignore[arg-type]
    # Both plate files say how their plates were laid out; vehicle files say nothing of it.
    for folder in (run, tmp_path / "x"):
        assert Embedder.from_files(folder / "vehicle.onnx", folder / "plate.onnx").two_line_aspect == 1.9
        assert TWO_LINE_ASPECT_KEY not in OnnxEncoder(folder / "vehicle.onnx").metadata
    # A checkpoint from before the layout trained on plates as printed: its export says 0.
    payload = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    del payload["meta"]["two_line_aspect"]
    torch.save(payload, tmp_path / "old.pt")
    old = ["export", "reid", "--checkpoint", str(tmp_path / "old.pt"), "--out", str(tmp_path / "old")]
    assert main([*old, "--json"]) == 0
    capsys.readouterr()
    assert (
        Embedder.from_files(
            tmp_path / "old" / "vehicle.onnx", tmp_path / "old" / "plate.onnx"
        ).two_line_aspect
        == 0
    )
    # A layout that is not a number is refused, naming the checkpoint.
    payload["meta"]["two_line_aspect"] = "wide"
    torch.save(payload, tmp_path / "bad.pt")
    assert (
        main(["export", "reid", "--checkpoint", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "bad")])
        == 2
    )
    assert "bad.pt: checkpoint's two_line_aspect metadata is not a number: 'wide'" in capsys.readouterr().err

    plot = tmp_path / "cmc.png"
    code = main(
        [
            "eval",
            "reid",
            "--data",
            str(tiny_veri),
            "--config",
            str(cfg),
            "--models",
            str(run),
            "--plot",
            str(plot),
            "--json",
        ]
    )
    report = last_json(capsys.readouterr().out)
    assert code == 0
    assert report["queries"] == 12
    assert report["gallery"] == 24
    for kind in ("vehicle", "plate", "fusion"):
        scores = report[kind]
        assert isinstance(scores, dict)
        assert 0.0 <= scores["mAP"] <= 1.0
        assert 0.0 <= scores["rank1"] <= 1.0
    assert plot.stat().st_size > 0

    assert main(["bench", "reid", "--models", str(run), "--batch", "4", "--repeats", "2", "--json"]) == 0
    bench = last_json(capsys.readouterr().out)
    assert {"crops_per_s", "ms_per_batch"} <= bench.keys()


def test_eval_without_data_says_how_to_make_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "reid", "--data", str(tmp_path / "none")]) == 2
    assert "roadwatch synth --scenario reid-fleet" in capsys.readouterr().err


def test_export_of_a_missing_checkpoint_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "reid", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
