"""Training losses of the re-identification networks (SPEC.md methods 1 and 2).

All functions are pure: they read their tensor arguments, return a scalar tensor and keep no
state. An empty batch (N = 0) gives a zero that is still connected to the autograd graph
(``x.sum() * 0``), so a training step on an empty batch can call ``.backward()`` unchanged.
Malformed inputs raise ``ValueError`` naming the argument and the shape or value received.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

# Squared distances are clamped to this before the square root: d/dx sqrt(x) is infinite at 0,
# and two identical features (a duplicated image, a collapsed early network) give exactly 0.
_MIN_SQUARED_DISTANCE = 1e-12


def _check_features(features: Tensor, name: str) -> None:
    if features.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {features.dtype}")


def _check_labels(labels: Tensor, n: int, n_from: str) -> None:
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},) to match {n_from}, got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got dtype {labels.dtype}")


def _pairwise_distances(features: Tensor) -> Tensor:
    """Euclidean distances between all rows, with finite gradients at zero distance.

    Args:
        features: ``(N, D)`` float.

    Returns:
        ``(N, N)`` distances; ``d[i, j] = ||f_i - f_j||``.
    """
    squared_norms = features.pow(2).sum(dim=1)  # (N,)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one matmul instead of an (N, N, D) difference tensor.
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * features @ features.T  # (N, N)
    # The clamp also absorbs the small negative values the expansion gives through rounding.
    return squared.clamp(min=_MIN_SQUARED_DISTANCE).sqrt()


def batch_hard_triplet_loss(
    features: Tensor, labels: Tensor, margin: float = 0.3, normalize: bool = True
) -> Tensor:
    """Triplet loss with batch-hard mining (hardest positive, hardest negative per anchor).

    For anchor ``a``, ``d_ap = max_{p: y_p = y_a, p != a} d(a, p)`` and
    ``d_an = min_{n: y_n != y_a} d(a, n)``, with ``d`` the Euclidean distance between the
    features (L2-normalised first when ``normalize``)::

        L = mean_{a in A} relu(d_ap - d_an + margin)

    where ``A`` is the set of anchors having at least one positive and one negative in the
    batch; the others are skipped (they carry no triplet). Sample images by identity (P
    identities x K images) so that ``A`` is the whole batch.

    Args:
        features: ``(N, D)`` float embeddings.
        labels: ``(N,)`` integer identity labels.
        margin: Required gap between the hardest negative and the hardest positive, >= 0.
        normalize: Compare L2-normalised features (distances then lie in ``[0, 2]``).

    Returns:
        Scalar loss. When ``A`` is empty (including N = 0, a single identity, or all
        identities distinct) a graph-connected zero, ``features.sum() * 0``.

    Raises:
        ValueError: features not 2-D or not float, labels not ``(N,)`` integers, margin < 0.
    """
    _check_features(features, "features")
    _check_labels(labels, features.shape[0], f"features {tuple(features.shape)}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if features.shape[0] == 0:
        return features.sum() * 0

    if normalize:
        features = F.normalize(features, p=2.0, dim=1)
    dist = _pairwise_distances(features)  # (N, N)

    same = labels[:, None] == labels[None, :]  # (N, N)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    valid = positive.any(dim=1) & negative.any(dim=1)  # (N,)
    if not bool(valid.any()):
        return features.sum() * 0

    # Masked entries become -inf / +inf so they never win the max / min; gradients flow only to
    # the selected pair of each anchor.
    d_ap = torch.where(positive, dist, torch.full_like(dist, float("-inf"))).amax(dim=1)  # (N,)
    d_an = torch.where(negative, dist, torch.full_like(dist, float("inf"))).amin(dim=1)  # (N,)
    return F.relu(d_ap[valid] - d_an[valid] + margin).mean()


def classification_loss(
    logits: Tensor,
    labels: Tensor,
    kind: Literal["ce", "focal"] = "ce",
    label_smoothing: float = 0.1,
    gamma: float = 2.0,
) -> Tensor:
    """Identity classification loss: label-smoothed cross-entropy or focal loss.

    With ``p = softmax(logits)``, ``y`` the label, ``C`` classes and ``eps = label_smoothing``:

    - ``"ce"``: ``mean_i[(1 - eps) * (-log p_iy) + eps * mean_c(-log p_ic)]``
      (``torch.nn.functional.cross_entropy`` with ``label_smoothing``).
    - ``"focal"``: ``mean_i[-(1 - p_iy)^gamma * log p_iy]``; ``label_smoothing`` is ignored
      (focal loss already down-weights confident samples). ``gamma = 0`` is plain CE.

    Args:
        logits: ``(N, C)`` float, unnormalised class scores.
        labels: ``(N,)`` integer labels in ``[0, C)``.
        kind: ``"ce"`` or ``"focal"``.
        label_smoothing: In ``[0, 1)``; used by ``"ce"`` only.
        gamma: Focusing exponent, >= 0; used by ``"focal"`` only.

    Returns:
        Scalar loss; for N = 0 a graph-connected zero, ``logits.sum() * 0``.

    Raises:
        ValueError: logits not 2-D or not float, labels not ``(N,)`` integers in ``[0, C)``,
            unknown kind, label_smoothing outside ``[0, 1)``, gamma < 0.
    """
    _check_features(logits, "logits")
    _check_labels(labels, logits.shape[0], f"logits {tuple(logits.shape)}")
    if kind not in ("ce", "focal"):
        raise ValueError(f"kind must be 'ce' or 'focal', got {kind!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    if logits.shape[0] == 0:
        return logits.sum() * 0
    num_classes = logits.shape[1]
    if bool((labels < 0).any()) or bool((labels >= num_classes).any()):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for logits {tuple(logits.shape)}, "
            f"got min {int(labels.min())}, max {int(labels.max())}"
        )

    if kind == "ce":
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    log_p = F.log_softmax(logits, dim=1)  # (N, C)
    log_pt = log_p.gather(1, labels[:, None]).squeeze(1)  # (N,)
    return (-((1.0 - log_pt.exp()) ** gamma) * log_pt).mean()


def distillation_loss(vehicle_logits: Tensor, plate_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Symmetric bidirectional knowledge distillation between the vehicle and plate networks.

    SPEC method 1 (seed 004): with ``G1 = softmax(vehicle_logits / T)`` and
    ``G2 = softmax(plate_logits / T)``, and ``KL(P || Q) = sum_c P_c (log P_c - log Q_c)``
    averaged over the batch::

        L_kd = 0.5 * T^2 * KL(G2 || G1) + 0.5 * T^2 * KL(G1 || G2)

    The value is symmetric in the two networks. The ``T^2`` factor keeps gradient magnitudes
    comparable across temperatures (Hinton et al.).

    Gradient design: each term treats the other network's distribution as a fixed soft label
    (``G2.detach()`` in the first term, ``G1.detach()`` in the second), as the patent describes
    "using the other network's output as soft label". So the first term only teaches the
    vehicle network and the second only the plate network; the gradient w.r.t.
    ``vehicle_logits`` is ``0.5 * T * (G1 - G2) / N`` and w.r.t. ``plate_logits``
    ``0.5 * T * (G2 - G1) / N``. Without the detach each network would also be pushed towards
    the other by the term meant to teach the other, doubling and skewing the pull.

    Args:
        vehicle_logits: ``(N, C)`` float, vehicle network identity logits.
        plate_logits: ``(N, C)`` float, plate network identity logits (same identities).
        temperature: Softmax temperature ``T > 0``.

    Returns:
        Scalar loss (>= 0, 0 when the logits agree); for N = 0 a graph-connected zero.

    Raises:
        ValueError: logits not 2-D float, shapes differ, temperature <= 0.
    """
    _check_features(vehicle_logits, "vehicle_logits")
    _check_features(plate_logits, "plate_logits")
    if vehicle_logits.shape != plate_logits.shape:
        raise ValueError(
            f"vehicle_logits and plate_logits must have the same shape, got "
            f"{tuple(vehicle_logits.shape)} and {tuple(plate_logits.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if vehicle_logits.shape[0] == 0:
        return (vehicle_logits.sum() + plate_logits.sum()) * 0

    log_g1 = F.log_softmax(vehicle_logits / temperature, dim=1)  # (N, C)
    log_g2 = F.log_softmax(plate_logits / temperature, dim=1)  # (N, C)
    # log-space targets avoid 0 * log 0 when a probability underflows.
    teach_vehicle = F.kl_div(log_g1, log_g2.detach(), reduction="batchmean", log_target=True)
    teach_plate = F.kl_div(log_g2, log_g1.detach(), reduction="batchmean", log_target=True)
    return 0.5 * temperature**2 * (teach_vehicle + teach_plate)


def bn_regularizer(module: nn.Module) -> Tensor:
    """Mean of the squares of all BatchNorm affine parameters in ``module`` (seed 001).

    ``R = (sum_k gamma_k^2 + sum_k beta_k^2) / K`` over every scale ``gamma`` and shift
    ``beta`` of each ``_BatchNorm`` submodule with ``affine=True`` (BatchNorm1d/2d/3d,
    SyncBatchNorm), ``K`` the number of such scalars. Shared submodules count once.

    The function takes no coefficient: training adds ``coef * R`` with ``coef`` one order of
    magnitude below the convolution weight decay (e.g. weight decay 5e-4 -> coef 5e-5).

    Args:
        module: Any module; it is only read.

    Returns:
        Scalar tensor, differentiable w.r.t. the BN parameters. A module without affine
        BatchNorm gives a zero tensor (on the device and dtype of its first parameter, if any).
    """
    params: list[Tensor] = []
    for sub in module.modules():
        if isinstance(sub, _BatchNorm) and sub.affine:
            params.extend((sub.weight, sub.bias))
    if not params:
        first = next(module.parameters(), None)
        if first is None:
            return torch.zeros(())
        return torch.zeros((), device=first.device, dtype=first.dtype)
    total = sum(p.numel() for p in params)
    return torch.stack([p.pow(2).sum() for p in params]).sum() / total
