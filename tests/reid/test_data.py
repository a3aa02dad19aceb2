"""Re-id data: plate rectification, augmentation, input normalisation, P×K sampling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.data import (
    MEAN,
    STD,
    TWO_LINE_ASPECT,
    TWO_LINE_SHARE,
    AugmentSpec,
    PKSampler,
    ReidItem,
    _jitter,
    augment,
    colour_signature,
    lookalike_neighbours,
    plate_aspect,
    rectify_plate,
    to_input,
)


def test_rectify_plate_maps_the_quad_onto_the_canvas() -> None:
    crop = np.zeros((40, 60, 3), np.uint8)
    crop[10:20, 20:50] = 200  # an axis-aligned "plate"
    corners = np.array([[20, 10], [50, 10], [50, 20], [20, 20]], np.float32)
    plate = rectify_plate(crop, corners, (8, 24))
    assert plate.shape == (8, 24, 3)
    assert plate[1:-1, 1:-1].min() == 200


def test_plate_aspect_is_mean_width_over_mean_height() -> None:
    assert plate_aspect(np.array([[0, 0], [40, 0], [40, 10], [0, 10]], np.float32)) == pytest.approx(4.0)
    skewed = np.array([[0, 0], [30, 0], [34, 20], [0, 20]], np.float32)  # top 30, bottom 34; sides 20, ~20.4
    assert plate_aspect(skewed) == pytest.approx(32 / ((20 + np.hypot(4, 20)) / 2))
    assert plate_aspect(np.zeros((4, 2), np.float32)) == 0.0


def _two_row_plate() -> tuple[np.ndarray, np.ndarray]:
    """A 30×20 plate (aspect 1.5) at (10, 5) in a crop: upper row grey 100, lower row grey 200."""
    crop = np.zeros((40, 60, 3), np.uint8)
    crop[5:15, 10:40] = 100
    crop[15:25, 10:40] = 200
    return crop, np.array([[10, 5], [40, 5], [40, 25], [10, 25]], np.float32)


def test_a_narrow_plate_is_laid_out_as_one_row_upper_part_left() -> None:
    crop, corners = _two_row_plate()
    assert plate_aspect(corners) < TWO_LINE_ASPECT
    plate = rectify_plate(crop, corners, (16, 64))
    assert plate.shape == (16, 64, 3)
    left, right = plate[:, :32, 0].astype(float), plate[:, 32:, 0].astype(float)
    # Each half is the top or bottom 55 % of the plate: mostly its own row, a sliver of the other.
    share = 0.5 / TWO_LINE_SHARE  # the row's part of a half
    assert np.median(left) == 100
    assert np.median(right) == 200
    assert (left[1:-1, 1:-1] == 100).mean() == pytest.approx(share, abs=0.1)
    assert (right[1:-1, 1:-1] == 200).mean() == pytest.approx(share, abs=0.1)


def test_a_wide_plate_or_a_zero_threshold_keeps_the_plain_warp() -> None:
    crop, corners = _two_row_plate()
    plain = rectify_plate(crop, corners, (16, 64), two_line_aspect=0)
    assert np.median(plain[:7, :, 0]) == 100  # the rows stay stacked
    assert np.median(plain[9:, :, 0]) == 200
    wide = np.array([[10, 5], [40, 5], [40, 12], [10, 12]], np.float32)  # 30×7: one row
    assert np.array_equal(rectify_plate(crop, wide, (16, 64)), rectify_plate(crop, wide, (16, 64), 0))
    flat = np.array([[10, 5], [40, 5], [40, 5], [10, 5]], np.float32)  # no height: not cut in two
    assert np.array_equal(rectify_plate(crop, flat, (16, 64)), rectify_plate(crop, flat, (16, 64), 0))


def test_to_input_normalises_rgb_with_imagenet_statistics() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    x = to_input([bgr], (4, 4))
    assert x.shape == (1, 3, 4, 4)
    expected = (np.array([1.0, 0.0, 0.0], np.float32) - MEAN) / STD
    assert np.allclose(x[0, :, 0, 0], expected)


def test_to_input_resizes_other_sizes_and_keeps_matching_ones() -> None:
    rng = np.random.default_rng(0)
    small, large, exact = (
        rng.integers(0, 256, (*hw, 3), dtype=np.uint8) for hw in ((3, 5), (40, 24), (8, 12))
    )
    x = to_input([small, large, exact], (8, 12))
    assert x.shape == (3, 3, 8, 12)
    assert x.dtype == np.float32
    assert x.flags.c_contiguous
    for row, image in zip(x, (small, large, exact), strict=True):
        interpolation = cv2.INTER_AREA if image.shape[0] > 8 or image.shape[1] > 12 else cv2.INTER_LINEAR
        rgb = cv2.resize(image, (12, 8), interpolation=interpolation)[..., ::-1] / 255.0
        np.testing.assert_allclose(row, ((rgb - MEAN) / STD).transpose(2, 0, 1), atol=1e-5)


def test_jitter_equals_brightness_then_contrast_then_saturation() -> None:
    image = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for seed in range(5):
        got = _jitter(image, 0.25, np.random.default_rng(seed))
        b, c, s = (1 + v for v in np.random.default_rng(seed).uniform(-0.25, 0.25, 3))
        f = image.astype(np.float64) * b  # the three steps as written, one after another
        f = (f - f.mean()) * c + f.mean()
        grey = f.mean(axis=2, keepdims=True)
        expected = np.clip((f - grey) * s + grey, 0, 255)
        assert np.abs(got.astype(np.float64) - expected).max() <= 1.0  # the cast to 8 bits


def test_augment_is_deterministic_for_a_seed_and_keeps_the_size() -> None:
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    a = augment(image, (32, 32), AugmentSpec(), np.random.default_rng(1))
    b = augment(image, (32, 32), AugmentSpec(), np.random.default_rng(1))
    c = augment(image, (32, 32), AugmentSpec(), np.random.default_rng(2))
    assert a.shape == (32, 32, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augment_without_randomness_is_a_resize() -> None:
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    off = AugmentSpec(area=(1.0, 1.0), aspect=(1.0, 1.0), flip_p=0, rotate_p=0, jitter_p=0, erase_p=0)
    assert np.array_equal(augment(image, (40, 40), off, np.random.default_rng(0)), image)


def _drawn_labels(batch: list[int], labels: list[int], p: int, k: int) -> list[int]:
    """The labels of a batch, checked to be P identities × K samples each."""
    drawn = [labels[i] for i in batch]
    assert len(batch) == p * k
    assert len(set(drawn)) == p
    assert all(drawn.count(lab) == k for lab in set(drawn))
    return drawn


def test_pk_sampler_draws_p_identities_times_k() -> None:
    labels = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]
    sampler = PKSampler(labels, p=3, k=2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        _drawn_labels(sampler.batch(rng), labels, p=3, k=2)


def test_pk_sampler_across_cameras_draws_k_different_cameras() -> None:
    # identity 0: 5 crops from c1, 1 from c2, 1 from c3; identity 1: 3 from c1, 1 from c2;
    # identity 2: one camera only
    cameras = ["c1"] * 5 + ["c2", "c3"] + ["c1"] * 3 + ["c2"] + ["c4"] * 3
    labels = [0] * 7 + [1] * 4 + [2] * 3
    sampler = PKSampler(labels, p=3, k=3, cameras=cameras)
    rng = np.random.default_rng(0)
    seen_c1_of_0: set[int] = set()
    for _ in range(30):
        batch = sampler.batch(rng)
        _drawn_labels(batch, labels, p=3, k=3)
        by_label = {lab: [cameras[i] for i in batch if labels[i] == lab] for lab in (0, 1, 2)}
        assert sorted(by_label[0]) == ["c1", "c2", "c3"]  # three cameras, one crop each
        assert sorted(set(by_label[1])) == ["c1", "c2"]  # two cameras, both used
        assert by_label[2] == ["c4"] * 3  # one camera: all from it
        seen_c1_of_0.update(i for i in batch if labels[i] == 0 and cameras[i] == "c1")
    assert len(seen_c1_of_0) > 1  # the crop within a camera is drawn at random


def test_pk_sampler_without_cameras_draws_same_camera_pairs_too() -> None:
    """The uniform draw is what cross_camera changes: it pairs crops of one camera as well."""
    cameras = ["c1"] * 5 + ["c2"] * 5 + ["c1", "c2"]
    labels = [0] * 10 + [1] * 2
    rng = np.random.default_rng(0)
    uniform = PKSampler(labels, p=2, k=2)
    across = PKSampler(labels, p=2, k=2, cameras=cameras)

    def same_camera_pairs(sampler: PKSampler) -> int:
        pairs = ([cameras[i] for i in sampler.batch(rng) if labels[i] == 0] for _ in range(50))
        return sum(pair[0] == pair[1] for pair in pairs)

    same_uniform, same_across = same_camera_pairs(uniform), same_camera_pairs(across)
    assert same_across == 0
    assert same_uniform > 0


def test_pk_sampler_refuses_cameras_of_another_length() -> None:
    with pytest.raises(ValueError, match="3 cameras given for 4 labels"):
        PKSampler([0, 0, 1, 1], 2, 2, cameras=["c1", "c2", "c1"])


def _solid(bgr: tuple[int, int, int], side: int = 20) -> np.ndarray:
    return np.full((side, side, 3), bgr, np.uint8)


def test_colour_signature_is_unit_and_tells_hues_apart() -> None:
    red, dark_red, blue = _solid((0, 0, 220)), _solid((20, 10, 200)), _solid((220, 0, 0))
    signatures = [colour_signature(c) for c in (red, dark_red, blue)]
    assert all(abs(float(np.linalg.norm(s)) - 1.0) < 1e-6 for s in signatures)
    assert float(signatures[0] @ signatures[1]) > float(signatures[0] @ signatures[2])


def test_colour_signature_of_a_grey_crop_has_no_hue() -> None:
    grey = colour_signature(_solid((128, 128, 128)))
    assert not grey[:8].any()  # the 8 hue bins count saturated pixels only


def test_colour_signature_looks_at_the_middle_of_the_crop() -> None:
    framed = _solid((0, 0, 220), side=50)
    framed[:10], framed[-10:], framed[:, :10], framed[:, -10:] = 255, 255, 255, 255  # road around it
    assert np.allclose(colour_signature(framed), colour_signature(_solid((0, 0, 220))))


def _items(colours: list[tuple[int, int, int]]) -> list[ReidItem]:
    return [
        ReidItem(_solid(c), None, identity=label, camera="c001", label=label, path=Path(f"{label}.jpg"))
        for label, c in enumerate(colours)
    ]


def test_lookalike_neighbours_rank_by_colour() -> None:
    # labels 0 and 1 red, 2 and 3 blue, 4 green
    items = _items([(0, 0, 220), (0, 0, 200), (220, 0, 0), (200, 0, 0), (0, 220, 0)])
    neighbours = lookalike_neighbours(items, count=2)
    assert neighbours[0][0] == 1
    assert neighbours[1][0] == 0
    assert neighbours[2][0] == 3
    assert neighbours[3][0] == 2
    assert all(len(n) == 2 and label not in n for label, n in neighbours.items())
    assert len(lookalike_neighbours(items, count=10)[4]) == 4


def test_pk_sampler_draws_lookalikes_beside_their_anchors() -> None:
    labels = [lab for lab in range(20) for _ in range(3)]
    neighbours = {lab: [lab ^ 1] for lab in range(20)}  # pairs (0, 1), (2, 3), ...
    sampler = PKSampler(labels, p=8, k=2, neighbours=neighbours, lookalike_share=0.5)
    rng = np.random.default_rng(0)
    for _ in range(30):
        drawn = _drawn_labels(sampler.batch(rng), labels, p=8, k=2)
        assert all(lab ^ 1 in drawn for lab in drawn)  # every identity came with its look-alike


def test_pk_sampler_without_share_keeps_the_uniform_draw() -> None:
    labels = [lab for lab in range(10) for _ in range(2)]
    uniform = PKSampler(labels, p=4, k=2)
    unused = PKSampler(
        labels, p=4, k=2, neighbours={lab: [lab ^ 1] for lab in range(10)}, lookalike_share=0.0
    )
    assert uniform.batch(np.random.default_rng(3)) == unused.batch(np.random.default_rng(3))


def test_pk_sampler_refuses_a_share_above_half() -> None:
    with pytest.raises(ValueError, match="lookalike_share"):
        PKSampler([0, 1, 2], 2, 2, neighbours={}, lookalike_share=0.6)


@pytest.mark.parametrize(
    ("labels", "p", "k", "message"), [([0, 1], 3, 2, "at least P=3"), ([0, 1, 2], 1, 2, "P and K")]
)
def test_pk_sampler_refuses_impossible_batches(labels: list[int], p: int, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PKSampler(labels, p, k)


def test_augment_grey_conversion_makes_the_channels_equal() -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    off = {"area": (1.0, 1.0), "aspect": (1.0, 1.0), "flip_p": 0, "rotate_p": 0, "jitter_p": 0, "erase_p": 0}
    grey = augment(image, (24, 24), AugmentSpec(**off, grey_p=1.0), np.random.default_rng(0))  # type: ignore[arg-type]
    assert grey.shape == (24, 24, 3)
    assert (grey[..., 0] == grey[..., 1]).all()
    assert (grey[..., 1] == grey[..., 2]).all()
    expected = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(grey[..., 0], expected)
    colour = augment(image, (24, 24), AugmentSpec(**off, grey_p=0.0), np.random.default_rng(0))  # type: ignore[arg-type]
    np.testing.assert_array_equal(colour, image)
