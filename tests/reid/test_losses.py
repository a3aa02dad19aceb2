"""reid.losses: hand-computed values, empty batches, gradients, malformed inputs."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from reid.losses import batch_hard_triplet_loss, bn_regularizer, classification_loss, distillation_loss

LN3 = math.log(3.0)
SQRT2 = math.sqrt(2.0)
# Distances between unit vectors 45 and 135 degrees apart: 2 sin(22.5 deg), 2 sin(67.5 deg).
CHORD_45 = math.sqrt(2.0 - SQRT2)
CHORD_135 = math.sqrt(2.0 + SQRT2)


def _t(rows: list[list[float]]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _ids(values: list[int]) -> Tensor:
    return torch.tensor(values, dtype=torch.int64)


# --- batch_hard_triplet_loss -----------------------------------------------------------------

# Square: x0=(0,0), x1=(1,0) are identity 0; x2=(0,2), x3=(0,3) identity 1.
# d01 = 1, d23 = 1, d02 = 2, d03 = 3, d12 = sqrt5, d13 = sqrt10. Hardest (d_ap, d_an) per anchor:
# (1, 2), (1, sqrt5), (1, 2), (1, 3). With margin 2: 1, 3 - sqrt5, 1, 0.
SQUARE = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 3.0]]
# On a line at 0, 1, 3 (identity 0) and 10, 12 (identity 1), margin 10. Hardest pairs:
# a0 (3, 10) -> 3; a1 (2, 9) -> 3; a2 (3, 7) -> 6; a3 (2, 7) -> 5; a4 (2, 9) -> 3. Mean 4.
LINE = [[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [10.0, 0.0], [12.0, 0.0]]
# Normalised to (1,0), (0,1) [identity 0] and (1,1)/sqrt2, (-1,0) [identity 1]. Hardest pairs:
# a0 (sqrt2, c45), a1 (sqrt2, c45), a2 (c135, c45), a3 (c135, sqrt2).
CIRCLE = [[2.0, 0.0], [0.0, 5.0], [1.0, 1.0], [-3.0, 0.0]]
CIRCLE_LOSS = (2 * (SQRT2 - CHORD_45) + (CHORD_135 - CHORD_45) + (CHORD_135 - SQRT2)) / 4 + 0.3

TRIPLET_CASES: list[Any] = [
    pytest.param(SQUARE, [0, 0, 1, 1], 2.0, False, (5.0 - math.sqrt(5.0)) / 4, id="square"),
    pytest.param(SQUARE, [0, 0, 1, 1], 0.3, False, 0.0, id="square-margin-met"),
    # (5,5) has no positive: skipped as anchor; as a negative it is farther than the others.
    pytest.param(
        [*SQUARE, [5.0, 5.0]], [0, 0, 1, 1, 2], 2.0, False, (5.0 - math.sqrt(5.0)) / 4, id="singleton"
    ),
    pytest.param(LINE, [0, 0, 0, 1, 1], 10.0, False, 4.0, id="line-three-positives"),
    pytest.param(CIRCLE, [0, 0, 1, 1], 0.3, True, CIRCLE_LOSS, id="normalised"),
    pytest.param(
        [[x * 7.0 for x in row] for row in CIRCLE], [0, 0, 1, 1], 0.3, True, CIRCLE_LOSS, id="scaled"
    ),
    pytest.param(SQUARE, [0, 0, 0, 0], 2.0, False, 0.0, id="no-negatives"),
    pytest.param(SQUARE, [0, 1, 2, 3], 2.0, False, 0.0, id="no-positives"),
    pytest.param([[1.0, 2.0]], [0], 2.0, True, 0.0, id="single-sample"),
]


@pytest.mark.parametrize(("features", "labels", "margin", "normalize", "expected"), TRIPLET_CASES)
def test_triplet_hand_computed(
    features: list[list[float]], labels: list[int], margin: float, normalize: bool, expected: float
) -> None:
    x = _t(features).requires_grad_()
    loss = batch_hard_triplet_loss(x, _ids(labels), margin=margin, normalize=normalize)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, abs=1e-9)
    loss.backward()  # zero losses are graph-connected too
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


def test_triplet_labels_in_any_order_give_the_same_loss() -> None:
    perm = [3, 0, 2, 1]
    a = batch_hard_triplet_loss(_t(SQUARE), _ids([0, 0, 1, 1]), margin=2.0, normalize=False)
    b = batch_hard_triplet_loss(_t(SQUARE)[perm], _ids([0, 0, 1, 1])[perm], margin=2.0, normalize=False)
    assert a.item() == pytest.approx(b.item(), abs=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_triplet_identical_positive_pair_has_finite_gradients(normalize: bool) -> None:
    # d_ap = 0 for anchors 0 and 1 (clamped to sqrt(1e-12) = 1e-6 before the root, which the
    # loss carries); d_an = sqrt2; anchor 2 has no positive.
    x = _t([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).requires_grad_()
    loss = batch_hard_triplet_loss(x, _ids([0, 0, 1]), margin=2.0, normalize=normalize)
    assert loss.item() == pytest.approx(2.0 - SQRT2 + 1e-6, abs=1e-6)
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("normalize", [True, False])
def test_triplet_empty_batch_is_zero_and_backward_works(normalize: bool) -> None:
    x = torch.zeros((0, 8), requires_grad=True)
    loss = batch_hard_triplet_loss(x, torch.zeros(0, dtype=torch.int64), normalize=normalize)
    assert loss.shape == ()
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad is not None
    assert x.grad.shape == (0, 8)


TRIPLET_BAD: list[Any] = [
    pytest.param(
        torch.zeros(4), _ids([0, 0, 1, 1]), 0.3, r"features must be 2-D \(N, D\), got shape \(4,\)", id="1d"
    ),
    pytest.param(torch.zeros(2, 3, 4), _ids([0, 1]), 0.3, "features must be 2-D", id="3d"),
    pytest.param(
        torch.zeros(4, 2, dtype=torch.int64), _ids([0, 0, 1, 1]), 0.3, "floating-point", id="int-features"
    ),
    pytest.param(
        torch.zeros(4, 2),
        _ids([0, 0, 1]),
        0.3,
        r"labels must have shape \(4,\).*got \(3,\)",
        id="short-labels",
    ),
    pytest.param(torch.zeros(4, 2), _ids([0, 0, 1, 1])[None], 0.3, "labels must have shape", id="2d-labels"),
    pytest.param(
        torch.zeros(4, 2), torch.zeros(4), 0.3, "labels must be an integer tensor", id="float-labels"
    ),
    pytest.param(torch.zeros(4, 2), _ids([0, 0, 1, 1]), -0.1, "margin must be >= 0", id="negative-margin"),
]


@pytest.mark.parametrize(("features", "labels", "margin", "message"), TRIPLET_BAD)
def test_triplet_malformed_inputs_raise(
    features: Tensor, labels: Tensor, margin: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        batch_hard_triplet_loss(features, labels, margin=margin)


# --- classification_loss ---------------------------------------------------------------------

# logits (0, ln3) -> p = (1/4, 3/4).
P2 = [[0.0, LN3]]

CLASSIFICATION_CASES: list[Any] = [
    pytest.param(P2, [1], "ce", 0.0, 2.0, -math.log(0.75), id="ce"),
    pytest.param(
        P2,
        [1],
        "ce",
        0.1,
        2.0,
        0.9 * -math.log(0.75) + 0.05 * -(math.log(0.25) + math.log(0.75)),
        id="ce-smoothed",
    ),
    pytest.param(P2 + P2, [1, 0], "ce", 0.0, 2.0, -(math.log(0.75) + math.log(0.25)) / 2, id="ce-batch-mean"),
    # Uniform prediction: smoothing moves nothing, loss stays ln C.
    pytest.param([[0.0, 0.0, 0.0]], [2], "ce", 0.1, 2.0, LN3, id="ce-uniform"),
    pytest.param(P2, [1], "focal", 0.0, 2.0, -(0.25**2) * math.log(0.75), id="focal"),
    pytest.param(P2, [0], "focal", 0.0, 2.0, -(0.75**2) * math.log(0.25), id="focal-hard-sample"),
    pytest.param(P2, [1], "focal", 0.1, 2.0, -(0.25**2) * math.log(0.75), id="focal-ignores-smoothing"),
    pytest.param(P2, [1], "focal", 0.0, 0.0, -math.log(0.75), id="focal-gamma0-is-ce"),
    pytest.param([[0.0, 0.0, 0.0]], [1], "focal", 0.0, 2.0, (2 / 3) ** 2 * LN3, id="focal-3-class"),
]


@pytest.mark.parametrize(("logits", "labels", "kind", "smoothing", "gamma", "expected"), CLASSIFICATION_CASES)
def test_classification_hand_computed(
    logits: list[list[float]], labels: list[int], kind: Any, smoothing: float, gamma: float, expected: float
) -> None:
    x = _t(logits).requires_grad_()
    loss = classification_loss(x, _ids(labels), kind=kind, label_smoothing=smoothing, gamma=gamma)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, abs=1e-9)
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("kind", ["ce", "focal"])
def test_classification_empty_batch_is_zero_and_backward_works(kind: Any) -> None:
    x = torch.zeros((0, 5), requires_grad=True)
    loss = classification_loss(x, torch.zeros(0, dtype=torch.int64), kind=kind)
    assert loss.shape == ()
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad is not None
    assert x.grad.shape == (0, 5)


CLASSIFICATION_BAD: list[Any] = [
    pytest.param(
        torch.zeros(3), _ids([0, 1, 2]), {}, r"logits must be 2-D \(N, D\), got shape \(3,\)", id="1d"
    ),
    pytest.param(torch.zeros(3, 4), _ids([0, 1]), {}, r"labels must have shape \(3,\)", id="short-labels"),
    pytest.param(torch.zeros(3, 4), torch.zeros(3), {}, "integer tensor", id="float-labels"),
    pytest.param(
        torch.zeros(2, 4), _ids([0, 4]), {}, r"labels must lie in \[0, 4\).*max 4", id="label-too-big"
    ),
    pytest.param(
        torch.zeros(2, 4), _ids([-1, 0]), {}, r"labels must lie in \[0, 4\).*min -1", id="negative-label"
    ),
    pytest.param(torch.zeros(2, 4), _ids([0, 1]), {"kind": "mse"}, "kind must be 'ce' or 'focal'", id="kind"),
    pytest.param(
        torch.zeros(2, 4), _ids([0, 1]), {"label_smoothing": 1.0}, "label_smoothing", id="smoothing-1"
    ),
    pytest.param(
        torch.zeros(2, 4), _ids([0, 1]), {"label_smoothing": -0.1}, "label_smoothing", id="smoothing-neg"
    ),
    pytest.param(torch.zeros(2, 4), _ids([0, 1]), {"gamma": -1.0}, "gamma must be >= 0", id="gamma-neg"),
]


@pytest.mark.parametrize(("logits", "labels", "kwargs", "message"), CLASSIFICATION_BAD)
def test_classification_malformed_inputs_raise(
    logits: Tensor, labels: Tensor, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        classification_loss(logits, labels, **kwargs)


# --- distillation_loss -----------------------------------------------------------------------

# G1 = (1/2, 1/2), G2 = (1/4, 3/4) at T = 1.
KL_12 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
KL_21 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
KD_HALF_QUARTER = 0.5 * KL_12 + 0.5 * KL_21

KD_CASES: list[Any] = [
    pytest.param([[0.0, 0.0]], [[0.0, LN3]], 1.0, KD_HALF_QUARTER, id="T1"),
    # Logits scaled by T give the same distributions; the T^2 factor remains.
    pytest.param([[0.0, 0.0]], [[0.0, 2 * LN3]], 2.0, 4 * KD_HALF_QUARTER, id="T2"),
    # Only the softmax matters: adding a constant to a row changes nothing.
    pytest.param([[5.0, 5.0]], [[-1.0, LN3 - 1.0]], 1.0, KD_HALF_QUARTER, id="shift-invariant"),
    # batchmean: the second (agreeing) row halves the loss.
    pytest.param(
        [[0.0, 0.0], [1.0, 2.0]], [[0.0, LN3], [1.0, 2.0]], 1.0, KD_HALF_QUARTER / 2, id="batch-mean"
    ),
    pytest.param([[1.0, -2.0, 0.5]], [[1.0, -2.0, 0.5]], 4.0, 0.0, id="identical"),
]


@pytest.mark.parametrize(("vehicle", "plate", "temperature", "expected"), KD_CASES)
def test_distillation_hand_computed(
    vehicle: list[list[float]], plate: list[list[float]], temperature: float, expected: float
) -> None:
    loss = distillation_loss(_t(vehicle), _t(plate), temperature=temperature)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, abs=1e-9)


def test_distillation_identical_random_logits_is_zero() -> None:
    logits = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    assert distillation_loss(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
def test_distillation_is_symmetric(temperature: float) -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    ab = distillation_loss(a, b, temperature=temperature)
    ba = distillation_loss(b, a, temperature=temperature)
    assert ab.item() > 0
    assert ab.item() == pytest.approx(ba.item(), rel=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_distillation_gradients_teach_each_network_towards_the_other(temperature: float) -> None:
    # Each term treats the other's distribution as a fixed soft label, so
    # dL/dv = 0.5 T (G1 - G2) / N and dL/dp = 0.5 T (G2 - G1) / N.
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    p = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    distillation_loss(v, p, temperature=temperature).backward()
    g1 = torch.softmax(v.detach() / temperature, dim=1)
    g2 = torch.softmax(p.detach() / temperature, dim=1)
    assert v.grad is not None
    assert p.grad is not None
    assert v.grad.abs().sum() > 0
    assert p.grad.abs().sum() > 0
    torch.testing.assert_close(v.grad, 0.5 * temperature * (g1 - g2) / 3)
    torch.testing.assert_close(p.grad, 0.5 * temperature * (g2 - g1) / 3)


def test_distillation_empty_batch_is_zero_and_backward_works() -> None:
    v = torch.zeros((0, 5), requires_grad=True)
    p = torch.zeros((0, 5), requires_grad=True)
    loss = distillation_loss(v, p)
    assert loss.shape == ()
    assert loss.item() == 0.0
    loss.backward()
    assert v.grad is not None
    assert p.grad is not None


KD_BAD: list[Any] = [
    pytest.param(
        torch.zeros(2, 5),
        torch.zeros(2, 6),
        4.0,
        r"same shape, got \(2, 5\) and \(2, 6\)",
        id="classes-differ",
    ),
    pytest.param(torch.zeros(3, 5), torch.zeros(2, 5), 4.0, r"got \(3, 5\) and \(2, 5\)", id="batch-differs"),
    pytest.param(torch.zeros(5), torch.zeros(5), 4.0, r"vehicle_logits must be 2-D", id="1d"),
    pytest.param(torch.zeros(2, 5), torch.zeros(5), 4.0, r"plate_logits must be 2-D", id="plate-1d"),
    pytest.param(torch.zeros(2, 5), torch.zeros(2, 5), 0.0, "temperature must be > 0, got 0.0", id="T0"),
    pytest.param(torch.zeros(2, 5), torch.zeros(2, 5), -1.0, "temperature must be > 0", id="T-negative"),
    pytest.param(torch.zeros(2, 5), torch.zeros(2, 5), math.nan, "temperature must be > 0", id="T-nan"),
]


@pytest.mark.parametrize(("vehicle", "plate", "temperature", "message"), KD_BAD)
def test_distillation_malformed_inputs_raise(
    vehicle: Tensor, plate: Tensor, temperature: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        distillation_loss(vehicle, plate, temperature=temperature)


# --- bn_regularizer --------------------------------------------------------------------------


def _set_bn(bn: nn.modules.batchnorm._BatchNorm, weight: list[float], bias: list[float]) -> None:
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(weight))
        bn.bias.copy_(torch.tensor(bias))


def test_bn_regularizer_is_mean_of_squares() -> None:
    bn2d, bn1d = nn.BatchNorm2d(2), nn.BatchNorm1d(1)
    _set_bn(bn2d, [1.0, 2.0], [3.0, 0.0])
    _set_bn(bn1d, [2.0], [-1.0])
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.fill_(10.0)  # not BN: must not count
    module = nn.Sequential(conv, bn2d, nn.ReLU(), nn.Flatten(), nn.Linear(2, 1), bn1d)
    reg = bn_regularizer(module)
    assert reg.item() == pytest.approx((1 + 4 + 9 + 0 + 4 + 1) / 6)
    reg.backward()
    assert bn2d.weight.grad is not None
    torch.testing.assert_close(bn2d.weight.grad, torch.tensor([2.0, 4.0]) / 6)
    assert conv.weight.grad is None


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        pytest.param(nn.Sequential(nn.Conv2d(1, 2, 1), nn.Linear(2, 2)), 0.0, id="no-bn"),
        pytest.param(nn.Sequential(nn.BatchNorm2d(3, affine=False)), 0.0, id="non-affine-bn"),
        pytest.param(nn.ReLU(), 0.0, id="no-parameters"),
        # Default init: gamma = 1, beta = 0 -> mean of squares 1/2.
        pytest.param(
            nn.Sequential(nn.BatchNorm2d(3), nn.BatchNorm2d(3, affine=False)), 0.5, id="default-init"
        ),
        pytest.param(nn.BatchNorm3d(4), 0.5, id="module-is-bn"),
        pytest.param(nn.GroupNorm(1, 4), 0.0, id="groupnorm-not-counted"),
    ],
)
def test_bn_regularizer_table(module: nn.Module, expected: float) -> None:
    reg = bn_regularizer(module)
    assert reg.shape == ()
    assert reg.item() == pytest.approx(expected)


def test_bn_regularizer_counts_a_shared_bn_once() -> None:
    bn = nn.BatchNorm1d(2)
    _set_bn(bn, [1.0, 3.0], [0.0, 0.0])
    assert bn_regularizer(nn.Sequential(bn, bn)).item() == pytest.approx(10.0 / 4)


def test_bn_regularizer_does_not_change_the_module() -> None:
    bn = nn.BatchNorm1d(2)
    _set_bn(bn, [1.0, 3.0], [0.5, 0.0])
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    bn_regularizer(bn)
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(value, before[key])
