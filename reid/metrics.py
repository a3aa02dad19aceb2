"""Re-identification evaluation: mAP and CMC under the VeRi-776 / Market-1501 protocol.

Pure numpy; nothing here knows about torch or the networks. A retrieval run compares every
query with every gallery item (a ``(Q, G)`` similarity matrix, larger = more alike), ranks the
gallery per query and scores the ranking against the identities:

- **Junk**: gallery items with the query's identity *and* camera are removed before ranking.
  Finding the same vehicle in the same camera is tracking, not re-identification, and those
  frames are usually near-duplicates of the query.
- **AP** of one query: the mean, over its true matches, of the precision at each match's rank.
- **CMC(k)**: 1 if a true match is among the first ``k`` ranked items, else 0.
- Queries without any true match left after junk removal are skipped; mAP and CMC average over
  the remaining ("valid") queries.

Malformed inputs raise ``ValueError`` naming the argument and the shape or value received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class RetrievalScores:
    """The result of one retrieval evaluation.

    Attributes:
        mAP: Mean average precision over the valid queries, in [0, 1]; 0 when there are none.
        cmc: ``(max_rank,)`` float64, cumulative match characteristic at ranks 1..max_rank:
            the fraction of valid queries with a true match within the first k items.
            Non-decreasing; zeros when there are no valid queries. Stored as a read-only copy.
        queries: Queries with at least one true match after junk removal (those averaged).
        gallery: Gallery size G.
    """

    mAP: float  # noqa: N815 - the metric's conventional name
    cmc: npt.NDArray[np.float64]
    queries: int
    gallery: int

    def __post_init__(self) -> None:
        cmc = np.array(self.cmc, dtype=np.float64, copy=True)
        if cmc.ndim != 1 or cmc.shape[0] < 1:
            raise ValueError(f"cmc must have shape (max_rank,) with max_rank >= 1, got {cmc.shape}")
        cmc.setflags(write=False)
        object.__setattr__(self, "cmc", cmc)

    @property
    def rank1(self) -> float:
        """CMC at rank 1: the fraction of valid queries whose best-ranked item is a true match."""
        return float(self.cmc[0])

    def to_dict(self) -> dict[str, float | int]:
        """A flat summary for logs and JSON reports, metrics rounded to 4 decimals.

        ``rank5`` and ``rank10`` are present only when ``cmc`` reaches that rank.
        """
        summary: dict[str, float | int] = {"mAP": round(float(self.mAP), 4), "rank1": round(self.rank1, 4)}
        for rank in (5, 10):
            if self.cmc.shape[0] >= rank:
                summary[f"rank{rank}"] = round(float(self.cmc[rank - 1]), 4)
        summary["queries"] = self.queries
        summary["gallery"] = self.gallery
        return summary


def _vector(value: npt.ArrayLike, name: str, length: int, length_from: str) -> npt.NDArray[Any]:
    array = np.asarray(value)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) to match {length_from}, got {array.shape}")
    return array


def _check_comparable(query: npt.NDArray[Any], gallery: npt.NDArray[Any], what: str) -> None:
    # A string query camera never equals an integer gallery camera: without this check every
    # gallery item would silently count as "other camera" and nothing would be junk.
    text = (query.dtype.kind in "USO", gallery.dtype.kind in "USO")
    if len(query) and len(gallery) and text[0] != text[1]:
        raise ValueError(
            f"query_{what} and gallery_{what} must both be text or both numbers, "
            f"got dtypes {query.dtype} and {gallery.dtype}"
        )


def evaluate_retrieval(
    similarity: npt.ArrayLike,
    query_ids: npt.ArrayLike,
    gallery_ids: npt.ArrayLike,
    query_cams: npt.ArrayLike,
    gallery_cams: npt.ArrayLike,
    max_rank: int = 20,
) -> RetrievalScores:
    """Score a query-versus-gallery ranking with mAP and CMC (VeRi-776 / Market-1501 protocol).

    Per query: drop gallery items with the query's identity and camera (junk); rank the rest by
    descending similarity, ties broken by gallery index (a stable sort, so results never depend
    on the sort implementation); then, with true matches at 1-based ranks ``r_1 < ... < r_m``
    of the junk-free ranking::

        AP = (1 / m) * sum_j j / r_j          CMC(k) = [r_1 <= k]

    Queries with ``m = 0`` are skipped. ``cmc`` always has ``max_rank`` entries; ranks beyond
    the gallery size repeat the last value.

    Args:
        similarity: ``(Q, G)`` float, larger = more alike; ``+-inf`` is allowed, NaN is not.
        query_ids: ``(Q,)`` integer identities.
        gallery_ids: ``(G,)`` integer identities.
        query_cams: ``(Q,)`` camera names or numbers.
        gallery_cams: ``(G,)`` camera names or numbers, of the same kind as ``query_cams``.
        max_rank: Length of the CMC curve (>= 1).

    Returns:
        The scores; with Q = 0 or no valid query, mAP 0, CMC zeros and ``queries`` 0.

    Raises:
        ValueError: ``similarity`` is not 2-D or holds NaN, a vector's shape disagrees with it,
            identities are not integers, camera kinds differ, or ``max_rank < 1``.
    """
    if isinstance(max_rank, bool) or not isinstance(max_rank, int | np.integer) or max_rank < 1:
        raise ValueError(f"max_rank must be an integer >= 1, got {max_rank!r}")
    sim = np.asarray(similarity)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be 2-D (Q, G), got shape {sim.shape}")
    if sim.dtype.kind not in "fiu":
        raise ValueError(f"similarity must hold real numbers, got dtype {sim.dtype}")
    sim = sim.astype(np.float64, copy=False)
    if np.isnan(sim).any():
        raise ValueError("similarity holds NaN")
    n_query, n_gallery = sim.shape
    q_ids = _vector(query_ids, "query_ids", n_query, f"similarity {sim.shape}")
    g_ids = _vector(gallery_ids, "gallery_ids", n_gallery, f"similarity {sim.shape}")
    q_cams = _vector(query_cams, "query_cams", n_query, f"similarity {sim.shape}")
    g_cams = _vector(gallery_cams, "gallery_cams", n_gallery, f"similarity {sim.shape}")
    for name, ids in (("query_ids", q_ids), ("gallery_ids", g_ids)):
        if ids.size and ids.dtype.kind not in "iu":
            raise ValueError(f"{name} must be integers, got dtype {ids.dtype}")
    _check_comparable(q_cams, g_cams, "cams")

    max_rank = int(max_rank)
    first_hits = np.zeros(max_rank, dtype=np.int64)  # first_hits[r - 1]: valid queries first hit at r
    ap_sum = 0.0
    valid = 0
    # One query at a time: the (Q, G) boolean and index arrays of a vectorised version would
    # take several GB on a full VeRi-776 test split (1678 x 11579).
    for q in range(n_query):
        order = np.argsort(-sim[q], kind="stable")  # (G,) descending, ties by gallery index
        same_id = g_ids[order] == q_ids[q]
        same_cam = g_cams[order] == q_cams[q]
        keep = ~(same_id & same_cam)
        hits = same_id[keep]  # (G',) true matches in junk-free rank order
        n_hits = int(hits.sum())
        if n_hits == 0:
            continue
        ranks = np.flatnonzero(hits) + 1  # (m,) 1-based ranks of the true matches
        ap_sum += float(np.mean(np.arange(1, n_hits + 1) / ranks))
        if ranks[0] <= max_rank:
            first_hits[ranks[0] - 1] += 1
        valid += 1

    if valid == 0:
        return RetrievalScores(mAP=0.0, cmc=np.zeros(max_rank), queries=0, gallery=n_gallery)
    cmc = np.cumsum(first_hits) / valid
    return RetrievalScores(mAP=ap_sum / valid, cmc=cmc, queries=valid, gallery=n_gallery)


def _features(value: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(value)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, D), got shape {array.shape}")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _l2_normalised(features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(features, axis=1, keepdims=True)  # (N, 1)
    normalised = np.zeros_like(features)
    # Zero rows stay zero (similarity 0 to everything) instead of becoming 0/0 = NaN.
    np.divide(features, norms, out=normalised, where=norms > 0)
    return normalised


def cosine_similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Cosine similarity between all rows of ``a`` and all rows of ``b``.

    Rows are L2-normalised on copies (the inputs are not modified); a zero row has similarity
    0 to every row, never NaN.

    Args:
        a: ``(N, D)`` real features; N may be 0.
        b: ``(M, D)`` real features; M may be 0.

    Returns:
        ``(N, M)`` float64 in [-1, 1].

    Raises:
        ValueError: An input is not 2-D, holds NaN/inf, or the widths differ.
    """
    fa = _features(a, "a")
    fb = _features(b, "b")
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"a and b must have the same width D, got shapes {fa.shape} and {fb.shape}")
    sim = _l2_normalised(fa) @ _l2_normalised(fb).T  # (N, M)
    return np.clip(sim, -1.0, 1.0)  # rounding can give 1 + 1e-16 for identical rows


def _has_plate(value: npt.ArrayLike, name: str, length: int, length_from: str) -> npt.NDArray[np.bool_]:
    array = _vector(value, name, length, length_from)
    if array.size and array.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean array, got dtype {array.dtype}")
    return array.astype(np.bool_, copy=False)  # an empty list arrives as float64


def _plate_features(
    value: npt.ArrayLike, name: str, has_plate: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    raw = np.asarray(value)
    n = has_plate.shape[0]
    if raw.ndim != 2 or raw.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n}, D), got {raw.shape}")
    if raw.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {raw.dtype}")
    # Rows without a plate are ignored, so whatever they hold (NaN included) is zeroed before it
    # can reach the matrix product.
    return _features(np.where(has_plate[:, None], raw, 0.0), name)


def fused_similarity(
    q_vehicle: npt.ArrayLike,
    q_plate: npt.ArrayLike,
    q_has_plate: npt.ArrayLike,
    g_vehicle: npt.ArrayLike,
    g_plate: npt.ArrayLike,
    g_has_plate: npt.ArrayLike,
    missing_plate: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Similarity of fused vehicle+plate features; a missing plate half counts as ``missing_plate``.

    roadwatch fuses an item's L2-normalised vehicle embedding ``v`` and plate embedding ``p``
    (128-d each) by concatenating and renormalising: ``f = [v, p] / sqrt(2)``. The cosine of two
    fused features is then the mean of the two cosines. The query decides the scale of its row::

        query and item have a plate:    s = 0.5 * cos(v, v') + 0.5 * cos(p, p')
        query has one, the item not:    s = 0.5 * cos(v, v') + 0.5 * m  (plate half unknown: m)
        query has no plate:             s = cos(v, v')                  (vehicle halves only)

    Why: every score in one query's ranking must be on one scale. Comparing a plated query with
    a plateless item by the vehicle cosine alone puts that item on a different scale, so a
    look-alike seen without a plate (vehicle cosine 0.9) would outrank the true match whose
    plate agrees (0.5 * 0.3 + 0.5 * 1.0). The unknown plate cosine ``m`` is a prior: 0 (what an
    unrelated plate gives, the BN-neck embedding being centred) ranks every plated impostor
    above a plateless true match with the same vehicle cosine; roadwatch uses the midpoint
    between the typical cosine of equal plates and of different plates
    (``reid.missing_plate_cosine``, chosen on the validation identities, ``docs/REID.md``), so
    a plate that disagrees counts against an item and an unknown one counts neither way. A
    plateless query compares vehicle halves with every item, as the gallery's vehicle library
    does.

    Args:
        q_vehicle: ``(Q, Dv)`` query vehicle embeddings (normalised here; need not be already).
        q_plate: ``(Q, Dp)`` query plate embeddings; rows of plateless queries may hold anything
            (usually zeros, even NaN) and are ignored.
        q_has_plate: ``(Q,)`` bool, whether each query has a plate embedding.
        g_vehicle: ``(G, Dv)`` gallery vehicle embeddings.
        g_plate: ``(G, Dp)`` gallery plate embeddings; same rule as ``q_plate``.
        g_has_plate: ``(G,)`` bool.
        missing_plate: Plate cosine assumed when the query has a plate and the item has none,
            in [-1, 1].

    Returns:
        ``(Q, G)`` float64 in [-1, 1], never NaN. Q or G may be 0.

    Raises:
        ValueError: Shapes disagree, a flag array is not boolean, a used row holds NaN/inf, or
            ``missing_plate`` is outside [-1, 1].
    """
    if not -1.0 <= missing_plate <= 1.0:  # also refuses NaN
        raise ValueError(f"missing_plate must be a cosine in [-1, 1], got {missing_plate}")
    qv = _features(q_vehicle, "q_vehicle")
    gv = _features(g_vehicle, "g_vehicle")
    n_query, n_gallery = qv.shape[0], gv.shape[0]
    q_flags = _has_plate(q_has_plate, "q_has_plate", n_query, f"q_vehicle {qv.shape}")
    g_flags = _has_plate(g_has_plate, "g_has_plate", n_gallery, f"g_vehicle {gv.shape}")
    qp = _plate_features(q_plate, "q_plate", q_flags)
    gp = _plate_features(g_plate, "g_plate", g_flags)
    for what, q_width, g_width in (
        ("vehicle", qv.shape[1], gv.shape[1]),
        ("plate", qp.shape[1], gp.shape[1]),
    ):
        if q_width != g_width:
            raise ValueError(f"q_{what} and g_{what} must have the same width, got {q_width} and {g_width}")

    vehicle = cosine_similarity(qv, gv)  # (Q, G)
    plate = cosine_similarity(qp, gp)  # (Q, G)
    both = q_flags[:, None] & g_flags[None, :]  # (Q, G)
    fused = 0.5 * vehicle + 0.5 * np.where(both, plate, missing_plate)  # (Q, G)
    return np.where(q_flags[:, None], fused, vehicle)
