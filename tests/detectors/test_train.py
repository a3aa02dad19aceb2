"""Detector data and training: letterboxing, odd frames, bad label boxes, a short run, resume."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from config.schema import DetectorTrainConfig
from detectors.data import DetectionItem, as_bgr, clean_boxes, crop_region, letterbox, load_detection_set
from detectors.train import (
    DetectorTrainingError,
    load_checkpoint,
    model_from_checkpoint,
    photometric,
    recalibrate_batchnorm,
    spec_for,
    train_detector,
    training_view,
)
from detectors.twostage import TwoStageDetector
from formats import DetectionSample

CFG = {
    "steps": 4,
    "images_per_step": 2,
    "warmup_steps": 1,
    "input_size": (96, 160),
    "threads": 1,
    "checkpoint_every": 2,
}


def test_letterbox_keeps_aspect_and_pads_right_and_bottom() -> None:
    image = np.full((100, 400, 3), 255, np.uint8)
    out, box = letterbox(image, (64, 64))
    assert out.shape == (64, 64, 3)
    assert box.scale == pytest.approx(0.16)
    assert out[:16].min() == 255
    assert (out[17:] == 114).all()


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((5, 7), np.uint8),
        np.zeros((5, 7, 1), np.uint8),
        np.zeros((5, 7, 4), np.uint8),
        np.zeros((2160, 3840, 3), np.uint8),
        np.zeros((1, 1, 3), np.uint8),
    ],
    ids=["grey", "grey1", "bgra", "4k", "1px"],
)
def test_any_frame_becomes_a_network_input(image: np.ndarray) -> None:
    out, _ = letterbox(image, (384, 640))
    assert out.shape == (384, 640, 3)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 5, 3), np.uint8), "non-empty"),
        (np.zeros((5, 5, 3), np.float32), "uint8"),
        (np.zeros((5, 5, 2), np.uint8), "channels"),
    ],
)
def test_unusable_frames_raise(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_bgr(image)


def test_label_boxes_are_clipped_or_skipped_with_a_reason() -> None:
    sample = DetectionSample(
        Path("a.jpg"),
        100,
        50,
        np.array([[-10, 5, 30, 60], [200, 5, 210, 20], [10, 10, 10.5, 20]], np.float32),
        np.array([2, 0, 1], np.int32),
    )
    skipped: list[str] = []
    boxes, labels = clean_boxes(sample, skipped)
    np.testing.assert_allclose(boxes, [[0, 5, 30, 50]])
    assert labels.tolist() == [3]
    assert len(skipped) == 2
    assert "a.jpg: box" in skipped[0]


def test_dataset_loads_with_empty_label_files(yolo_set: Path) -> None:
    data = load_detection_set(yolo_set, "train")
    assert data.classes == ["car", "plate"]
    assert len(data.items) == 7
    assert sum(len(it.boxes) == 0 for it in data.items) == 1
    assert sum(len(it.boxes) for it in data.items) == 7
    assert data.skipped == []


def test_short_run_checkpoints_and_resumes_exactly(yolo_set: Path, tmp_path: Path) -> None:
    cfg = DetectorTrainConfig(**CFG)  # type: ignore[arg-type]
    full, state = train_detector(yolo_set, tmp_path / "full", cfg)
    assert full.steps == 4
    assert full.skipped_boxes == 0
    assert all(np.isfinite(v) for v in full.final.values())

    half = DetectorTrainConfig(**{**CFG, "steps": 2})  # type: ignore[arg-type]
    train_detector(yolo_set, tmp_path / "resumed", half)
    resumed, resumed_state = train_detector(yolo_set, tmp_path / "resumed", cfg, resume=True)
    assert resumed.steps == 4
    for (name, a), b in zip(
        state.model.state_dict().items(), resumed_state.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name

    model = model_from_checkpoint(load_checkpoint(full.checkpoint))
    (found,) = model.detect(torch.zeros(1, 3, 96, 160))
    assert found.boxes.shape[1] == 4


def test_batchnorm_recalibration_measures_the_statistics_of_fresh_views(yolo_set: Path) -> None:
    cfg = DetectorTrainConfig(**{**CFG, "images_per_step": 1, "bn_views": 1})  # type: ignore[arg-type]
    dataset = load_detection_set(yolo_set, "train")
    model = TwoStageDetector(spec_for(dataset.classes, cfg))
    weights = {
        k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "batches" not in k
    }
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert norm.running_mean is not None
    norm.running_mean.fill_(5.0)  # stale statistics that must be replaced
    seen: list[torch.Tensor] = []
    hook = norm.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0].detach()))

    views = recalibrate_batchnorm(model, dataset, cfg, 3.0, np.random.default_rng(7))
    hook.remove()
    assert views == 1
    assert not model.training
    # One view, cumulative average: the running mean is that view's per-channel mean.
    (batch,) = seen
    torch.testing.assert_close(norm.running_mean, batch.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
    for name, value in model.state_dict().items():
        if name in weights:
            assert torch.equal(value, weights[name]), name  # weights untouched
    assert norm.momentum == 0.1  # the training momentum is restored

    # The same view drawn again from the same seed gives the same statistics.
    again = norm.running_mean.clone()
    recalibrate_batchnorm(model, dataset, cfg, 3.0, np.random.default_rng(7))
    torch.testing.assert_close(norm.running_mean, again)


def test_a_label_outside_the_image_names_its_file_and_line(yolo_set: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "set"
    shutil.copytree(yolo_set, copy)
    label = copy / "labels" / "train" / "f0.txt"
    label.write_text(label.read_text() + "0 1.5 0.5 0.1 0.1\n")  # centre beyond the right edge
    with pytest.raises(DetectorTrainingError, match=r"f0\.txt:2: box 1\.5 0\.5 0\.1 0\.1 is outside"):
        train_detector(copy, tmp_path / "out", DetectorTrainConfig(**CFG))  # type: ignore[arg-type]


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "data.yaml").write_text("names: [car]\ntrain: images/train\n")
    with pytest.raises(DetectorTrainingError, match="no training images"):
        train_detector(tmp_path, tmp_path / "out", DetectorTrainConfig(**CFG))  # type: ignore[arg-type]
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorTrainingError, match="not a readable checkpoint"):
        load_checkpoint(bad)


def test_crop_region_cuts_and_upsamples_inside_the_image() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:50, 180:190] = 255
    crop, scale, (x0, y0) = crop_region(image, (195.0, 45.0), (20.0, 40.0), (60, 120))
    assert crop.shape == (60, 120, 3)
    assert scale == pytest.approx(3.0)
    assert (x0, y0) == (160.0, 35.0)  # pushed back inside the right edge
    ys, xs = np.nonzero(crop[..., 0] > 128)
    assert xs.min() == pytest.approx((180 - 160) * 3, abs=2)
    assert ys.min() == pytest.approx((40 - 35) * 3, abs=2)


def test_second_pass_view_maps_boxes_into_the_upsampled_crop() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    image[200:210, 300:330] = 255  # a small "plate"
    encoded = cv2.imencode(".png", image)[1].tobytes()
    item = DetectionItem(encoded, np.array([[300, 200, 330, 210]], np.float32), np.array([2]), Path("p.png"))
    cfg = DetectorTrainConfig(input_size=(192, 320), second_pass_p=1.0, flip_p=0.0, photometric_p=0.0)
    for seed in range(5):
        view, boxes, labels, _ = training_view(item, cfg, 3.0, np.random.default_rng(seed))
        assert view.shape == (192, 320, 3)
        assert labels.tolist() == [2]
        x1, y1, x2, y2 = boxes[0].tolist()
        assert 30 * 3 * 0.6 - 1 <= x2 - x1 <= 30 * 3 * 1.4 + 1  # up-sampled by the jittered factor
        inside = view[int(y1) + 2 : int(y2) - 2, int(x1) + 2 : int(x2) - 2]
        assert inside.size > 0
        assert inside.mean() > 200  # the box still frames the bright plate


def test_ignore_regions_follow_the_view_and_cut_boxes_join_them() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    encoded = cv2.imencode(".png", image)[1].tobytes()
    boxes = np.array([[100, 100, 200, 200], [630, 100, 700, 150]], np.float32)  # the second mostly outside
    item = DetectionItem(
        encoded, boxes, np.array([1, 1]), Path("p.png"), ignore=np.array([[0, 0, 64, 32]], np.float32)
    )
    cfg = DetectorTrainConfig(input_size=(192, 320), second_pass_p=0.0, flip_p=0.0)
    _, kept, _, ignore = training_view(item, cfg, 3.0, np.random.default_rng(0))
    np.testing.assert_allclose(kept.numpy(), [[50, 50, 100, 100]])  # letterboxed at scale 1/2
    np.testing.assert_allclose(ignore.numpy(), [[0, 0, 32, 16], [315, 50, 320, 75]])
    flipped = DetectorTrainConfig(input_size=(192, 320), second_pass_p=0.0, flip_p=1.0)
    _, kept, _, ignore = training_view(item, flipped, 3.0, np.random.default_rng(0))
    np.testing.assert_allclose(kept.numpy(), [[220, 50, 270, 100]])
    np.testing.assert_allclose(ignore.numpy(), [[288, 0, 320, 16], [0, 50, 5, 75]])


def test_photometric_change_keeps_order_and_boxes() -> None:
    levels = np.array([[[0] * 3, [64] * 3, [128] * 3, [192] * 3, [255] * 3]], np.uint8)
    seen = set()
    for seed in range(20):
        out = photometric(levels, np.random.default_rng(seed))
        assert out.dtype == np.uint8
        assert out.shape == levels.shape
        grey = out[0, :, 0].astype(int)
        assert np.all(np.diff(grey) >= 0)  # darker stays darker
        assert abs(grey[2] - 128) <= 40  # mid-grey moves by the brightness change only (±40)
        seen.add(tuple(grey))
    assert len(seen) == 20
    image = np.full((360, 640, 3), 100, np.uint8)
    encoded = cv2.imencode(".png", image)[1].tobytes()
    item = DetectionItem(encoded, np.array([[100, 100, 200, 200]], np.float32), np.array([1]), Path("p.png"))
    plain = DetectorTrainConfig(input_size=(192, 320), second_pass_p=0.0, flip_p=0.0, photometric_p=0.0)
    lit = plain.model_copy(update={"photometric_p": 1.0})
    view, boxes, _, _ = training_view(item, plain, 3.0, np.random.default_rng(0))
    changed, same_boxes, _, _ = training_view(item, lit, 3.0, np.random.default_rng(0))
    assert view[0, 0, 0] == 100
    assert changed[0, 0, 0] != 100
    assert torch.equal(boxes, same_boxes)
