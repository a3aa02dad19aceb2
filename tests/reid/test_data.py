"""Re-id data: plate rectification, augmentation, input normalisation, P×K sampling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reid.data import MEAN, STD, AugmentSpec, PKSampler, augment, rectify_plate, to_input


def test_rectify_plate_maps_the_quad_onto_the_canvas() -> None:
    crop = np.zeros((40, 60, 3), np.uint8)
    crop[10:20, 20:50] = 200  # an axis-aligned "plate"
    corners = np.array([[20, 10], [50, 10], [50, 20], [20, 20]], np.float32)
    plate = rectify_plate(crop, corners, (8, 24))
    assert plate.shape == (8, 24, 3)
    assert plate[1:-1, 1:-1].min() == 200


def test_to_input_normalises_rgb_with_imagenet_statistics() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    x = to_input([bgr], (4, 4))
    assert x.shape == (1, 3, 4, 4)
    expected = (np.array([1.0, 0.0, 0.0], np.float32) - MEAN) / STD
    assert np.allclose(x[0, :, 0, 0], expected)


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


def test_pk_sampler_draws_p_identities_times_k() -> None:
    labels = [0, 0, 0, 1, 1, 2, 3, 3, 3, 3]
    sampler = PKSampler(labels, p=3, k=2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = sampler.batch(rng)
        drawn = [labels[i] for i in batch]
        assert len(batch) == 6
        assert len(set(drawn)) == 3
        assert all(drawn.count(lab) == 2 for lab in set(drawn))


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
