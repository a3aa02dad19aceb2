"""reid.metrics: hand-computed AP/CMC, junk removal, ties, cosine and fused similarity, bad inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from reid.metrics import RetrievalScores, cosine_similarity, evaluate_retrieval, fused_similarity

R2 = 1.0 / math.sqrt(2.0)
NAN = float("nan")


def _evaluate(
    sim: list[list[float]],
    q_ids: list[int],
    g_ids: list[int],
    q_cams: list[Any],
    g_cams: list[Any],
    max_rank: int = 4,
) -> RetrievalScores:
    return evaluate_retrieval(
        np.array(sim, dtype=np.float64).reshape(len(q_ids), len(g_ids)),
        np.array(q_ids, dtype=np.int64),
        np.array(g_ids, dtype=np.int64),
        np.array(q_cams),
        np.array(g_cams),
        max_rank=max_rank,
    )


# --- evaluate_retrieval: hand-computed tables --------------------------------------------------

# Each case: similarity, query ids, gallery ids, query cams, gallery cams, max_rank,
# expected mAP, expected CMC, expected counted queries.
RETRIEVAL_CASES = {
    # Gallery ranked 0, 1, 2, 3; true matches (id 1) at ranks 1 and 3: AP = (1/1 + 2/3) / 2.
    "matches_at_1_and_3": (
        [[0.9, 0.8, 0.7, 0.6]],
        [1],
        [1, 2, 1, 3],
        ["c1"],
        ["c2"] * 4,
        4,
        (1 + 2 / 3) / 2,
        [1, 1, 1, 1],
        1,
    ),
    # Same ranking, but the top item is id 1 in the query's camera: junk, removed. The rest ranks
    # match, other, match: AP = (1 + 2/3) / 2 (counting it would give (1 + 1 + 3/4) / 3).
    "junk_removed_before_ranking": (
        [[0.9, 0.8, 0.7, 0.6]],
        [1],
        [1, 1, 2, 1],
        ["c1"],
        ["c1", "c2", "c2", "c2"],
        4,
        (1 + 2 / 3) / 2,
        [1, 1, 1, 1],
        1,
    ),
    # Junk on top is removed, so the only match moves from rank 3 to rank 2: AP 1/2.
    "junk_on_top_match_at_rank_2": (
        [[0.9, 0.8, 0.7]],
        [1],
        [1, 2, 1],
        ["c1"],
        ["c1", "c2", "c2"],
        3,
        1 / 2,
        [0, 1, 1],
        1,
    ),
    # The same identity in another camera is a true match; a different identity in the query's
    # camera is an ordinary distractor (not junk).
    "other_id_same_camera_is_distractor": (
        [[0.9, 0.8]],
        [1],
        [2, 1],
        ["c1"],
        ["c1", "c2"],
        2,
        1 / 2,
        [0, 1],
        1,
    ),
    # Query 0 only has a match in its own camera: skipped. Query 1 hits at rank 1.
    "query_with_only_same_camera_matches_skipped": (
        [[0.9, 0.1, 0.5], [0.2, 0.9, 0.1]],
        [1, 2],
        [1, 2, 3],
        ["c1", "c1"],
        ["c1", "c2", "c2"],
        3,
        1.0,
        [1, 1, 1],
        1,
    ),
    "perfect_ranking": (
        [[0.9, 0.1, 0.2], [0.1, 0.8, 0.7], [0.3, 0.2, 0.9]],
        [1, 2, 3],
        [1, 2, 3],
        ["c1", "c1", "c1"],
        ["c2", "c2", "c2"],
        3,
        1.0,
        [1, 1, 1],
        3,
    ),
    # Query 0 hits at rank 1 (AP 1); query 1 at rank 2 only (AP 1/2). mAP 3/4, CMC [1/2, 1].
    "two_queries_averaged": (
        [[0.9, 0.1], [0.9, 0.1]],
        [1, 2],
        [1, 2],
        ["c1", "c1"],
        ["c2", "c2"],
        2,
        0.75,
        [0.5, 1],
        2,
    ),
    # Matches at ranks 2 and 3 of 3: AP = (1/2 + 2/3) / 2 = 7/12.
    "two_matches_after_a_distractor": (
        [[0.1, 0.9, 0.5]],
        [5],
        [5, 6, 5],
        [0],
        [1, 2, 3],
        3,
        7 / 12,
        [0, 1, 1],
        1,
    ),
    # The first match is beyond max_rank: CMC stays 0 but AP still counts it (1/3).
    "first_match_beyond_max_rank": (
        [[0.9, 0.8, 0.7]],
        [1],
        [2, 3, 1],
        [0],
        [1, 1, 1],
        2,
        1 / 3,
        [0, 0],
        1,
    ),
    # max_rank longer than the gallery: CMC holds its last value.
    "max_rank_beyond_gallery": (
        [[0.1, 0.9]],
        [1],
        [1, 2],
        [0],
        [1, 1],
        4,
        1 / 2,
        [0, 1, 1, 1],
        1,
    ),
    # Integer cameras work like text ones.
    "integer_cameras_with_junk": (
        [[0.9, 0.8]],
        [7],
        [7, 7],
        [3],
        [3, 4],
        2,
        1.0,
        [1, 1],
        1,
    ),
    # -inf is a legal "never retrieve" similarity.
    "minus_infinity_ranks_last": (
        [[-np.inf, 0.0]],
        [1],
        [1, 2],
        [0],
        [1, 1],
        2,
        1 / 2,
        [0, 1],
        1,
    ),
}


@pytest.mark.parametrize(
    ("sim", "q_ids", "g_ids", "q_cams", "g_cams", "max_rank", "expected_map", "expected_cmc", "queries"),
    list(RETRIEVAL_CASES.values()),
    ids=list(RETRIEVAL_CASES),
)
def test_evaluate_retrieval_hand_computed(
    sim: list[list[float]],
    q_ids: list[int],
    g_ids: list[int],
    q_cams: list[Any],
    g_cams: list[Any],
    max_rank: int,
    expected_map: float,
    expected_cmc: list[float],
    queries: int,
) -> None:
    scores = _evaluate(sim, q_ids, g_ids, q_cams, g_cams, max_rank)
    assert scores.mAP == pytest.approx(expected_map)
    np.testing.assert_allclose(scores.cmc, expected_cmc)
    assert scores.cmc.shape == (max_rank,)
    assert scores.rank1 == pytest.approx(expected_cmc[0])
    assert scores.queries == queries
    assert scores.gallery == len(g_ids)


@pytest.mark.parametrize(
    ("g_ids", "expected_map", "expected_cmc"),
    [
        # All similarities equal: the order is the gallery order. Matches at ranks 2 and 3.
        ([2, 1, 1], 7 / 12, [0, 1, 1]),
        # Matches first in gallery order: ranks 1 and 2.
        ([1, 1, 2], 1.0, [1, 1, 1]),
        ([1, 2, 1], (1 + 2 / 3) / 2, [1, 1, 1]),
    ],
)
def test_ties_broken_by_gallery_index(
    g_ids: list[int], expected_map: float, expected_cmc: list[float]
) -> None:
    runs = [_evaluate([[0.5, 0.5, 0.5]], [1], g_ids, [0], [1, 1, 1], max_rank=3) for _ in range(3)]
    for scores in runs:
        assert scores.mAP == pytest.approx(expected_map)
        np.testing.assert_allclose(scores.cmc, expected_cmc)


def test_partial_tie_keeps_gallery_order_within_the_tie() -> None:
    # Item 2 (0.9) first; items 0 and 1 tie at 0.5 and keep their order; the match (item 1) is 3rd.
    scores = _evaluate([[0.5, 0.5, 0.9]], [1], [2, 1, 3], [0], [1, 1, 1], max_rank=3)
    assert scores.mAP == pytest.approx(1 / 3)
    np.testing.assert_allclose(scores.cmc, [0, 0, 1])


def test_does_not_modify_inputs() -> None:
    sim = np.array([[0.2, 0.9]])
    ids = np.array([1, 2])
    before = sim.copy()
    evaluate_retrieval(sim, np.array([1]), ids, np.array(["a"]), np.array(["b", "b"]))
    np.testing.assert_array_equal(sim, before)


# --- evaluate_retrieval: empty inputs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "g", "q_ids", "g_ids", "q_cams", "g_cams"),
    [
        pytest.param(0, 3, [], [1, 2, 3], [], ["a", "b", "c"], id="no_queries"),
        pytest.param(2, 0, [1, 2], [], ["a", "b"], [], id="empty_gallery"),
        pytest.param(0, 0, [], [], [], [], id="both_empty"),
        # Every gallery item is the query's identity in the query's camera: all junk.
        pytest.param(1, 2, [1], [1, 1], ["a"], ["a", "a"], id="only_junk"),
        pytest.param(1, 2, [1], [2, 3], ["a"], ["b", "b"], id="no_match_at_all"),
    ],
)
def test_no_valid_query_gives_zeros(
    q: int, g: int, q_ids: list[int], g_ids: list[int], q_cams: list[str], g_cams: list[str]
) -> None:
    scores = evaluate_retrieval(
        np.zeros((q, g)), np.array(q_ids, np.int64), np.array(g_ids, np.int64), q_cams, g_cams, max_rank=5
    )
    assert scores.mAP == 0.0
    np.testing.assert_array_equal(scores.cmc, np.zeros(5))
    assert scores.queries == 0
    assert scores.gallery == g
    assert scores.rank1 == 0.0


def test_plain_lists_are_accepted() -> None:
    scores = evaluate_retrieval([[0.1, 0.9]], [1], [2, 1], ["a"], ["b", "b"], max_rank=2)
    assert scores.mAP == 1.0


# --- evaluate_retrieval: malformed inputs ------------------------------------------------------


@pytest.mark.parametrize(
    ("sim", "q_ids", "g_ids", "q_cams", "g_cams", "max_rank", "message"),
    [
        pytest.param(
            [0.1, 0.2], [1], [1, 2], ["a"], ["b", "b"], 5, r"similarity must be 2-D.*\(2,\)", id="1d"
        ),
        pytest.param([[[0.1]]], [1], [1], ["a"], ["b"], 5, r"2-D.*\(1, 1, 1\)", id="3d"),
        pytest.param(
            [[0.1, 0.2]], [1, 2], [1, 2], ["a"], ["b", "b"], 5, r"query_ids.*\(1,\).*\(2,\)", id="q_ids"
        ),
        pytest.param(
            [[0.1, 0.2]], [1], [1], ["a"], ["b", "b"], 5, r"gallery_ids.*\(2,\).*\(1,\)", id="g_ids"
        ),
        pytest.param(
            [[0.1, 0.2]], [1], [1, 2], [], ["b", "b"], 5, r"query_cams.*\(1,\).*\(0,\)", id="q_cams"
        ),
        pytest.param([[0.1, 0.2]], [1], [1, 2], ["a"], ["b"], 5, r"gallery_cams.*\(2,\)", id="g_cams"),
        pytest.param([[0.1, NAN]], [1], [1, 2], ["a"], ["b", "b"], 5, "NaN", id="nan"),
        pytest.param(
            [[0.1, 0.2]], [1.5], [1, 2], ["a"], ["b", "b"], 5, "query_ids must be integers", id="float_ids"
        ),
        pytest.param(
            [[0.1, 0.2]], [1], [1, 2], ["a"], [1, 2], 5, "both be text or both numbers", id="mixed_cams"
        ),
        pytest.param([["x", "y"]], [1], [1, 2], ["a"], ["b", "b"], 5, "real numbers", id="text_similarity"),
        pytest.param([[0.1, 0.2]], [1], [1, 2], ["a"], ["b", "b"], 0, "max_rank", id="max_rank_0"),
        pytest.param([[0.1, 0.2]], [1], [1, 2], ["a"], ["b", "b"], True, "max_rank", id="max_rank_bool"),
    ],
)
def test_evaluate_retrieval_rejects_malformed(
    sim: Any, q_ids: Any, g_ids: Any, q_cams: Any, g_cams: Any, max_rank: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_retrieval(sim, q_ids, g_ids, q_cams, g_cams, max_rank=max_rank)


# --- RetrievalScores ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cmc", "expected"),
    [
        (
            [0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.0],
            {"mAP": 0.8333, "rank1": 0.5, "rank5": 0.9, "rank10": 1.0, "queries": 6, "gallery": 40},
        ),
        (
            [0.5, 0.6, 0.7, 0.8, 0.9, 0.9],
            {"mAP": 0.8333, "rank1": 0.5, "rank5": 0.9, "queries": 6, "gallery": 40},
        ),
        ([1 / 3, 0.5], {"mAP": 0.8333, "rank1": 0.3333, "queries": 6, "gallery": 40}),
    ],
)
def test_to_dict_rounds_and_lists_available_ranks(cmc: list[float], expected: dict[str, float]) -> None:
    scores = RetrievalScores(mAP=5 / 6, cmc=np.array(cmc), queries=6, gallery=40)
    assert scores.to_dict() == expected


def test_scores_keep_a_read_only_copy_of_cmc() -> None:
    cmc = np.array([0.5, 1.0])
    scores = RetrievalScores(mAP=0.5, cmc=cmc, queries=2, gallery=3)
    cmc[0] = 0.0
    assert scores.rank1 == 0.5
    with pytest.raises(ValueError, match="read-only"):
        scores.cmc[0] = 0.0


@pytest.mark.parametrize("cmc", [np.zeros(0), np.zeros((2, 2))])
def test_scores_reject_malformed_cmc(cmc: npt.NDArray[np.float64]) -> None:
    with pytest.raises(ValueError, match="cmc must have shape"):
        RetrievalScores(mAP=0.0, cmc=cmc, queries=0, gallery=0)


# --- cosine_similarity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(
            [[1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]], [[1.0, R2, 0.0]], id="unit_and_scaled"
        ),
        pytest.param([[2.0, 0.0]], [[-3.0, 0.0]], [[-1.0]], id="opposite"),
        pytest.param(
            [[0.0, 0.0], [3.0, 4.0]], [[4.0, 3.0], [0.0, 0.0]], [[0.0, 0.0], [0.96, 0.0]], id="zero_rows"
        ),
        pytest.param([[1, 1]], [[2, 2]], [[1.0]], id="integers_and_clipped_to_one"),
    ],
)
def test_cosine_similarity(a: list[list[float]], b: list[list[float]], expected: list[list[float]]) -> None:
    sim = cosine_similarity(np.array(a), np.array(b))
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    assert sim.dtype == np.float64
    assert np.abs(sim).max() <= 1.0


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "expected_shape"),
    [((0, 4), (3, 4), (0, 3)), ((2, 4), (0, 4), (2, 0)), ((0, 4), (0, 4), (0, 0)), ((2, 0), (1, 0), (2, 1))],
)
def test_cosine_similarity_empty(
    a_shape: tuple[int, int], b_shape: tuple[int, int], expected_shape: tuple[int, int]
) -> None:
    sim = cosine_similarity(np.zeros(a_shape), np.zeros(b_shape))
    assert sim.shape == expected_shape
    assert not np.isnan(sim).any()


def test_cosine_similarity_does_not_modify_inputs() -> None:
    a = np.array([[3.0, 4.0]])
    cosine_similarity(a, a)
    np.testing.assert_array_equal(a, [[3.0, 4.0]])


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        pytest.param(np.zeros(3), np.zeros((1, 3)), r"a must be 2-D.*\(3,\)", id="a_1d"),
        pytest.param(np.zeros((1, 3)), np.zeros((1, 2)), r"same width.*\(1, 3\).*\(1, 2\)", id="width"),
        pytest.param(np.array([[NAN, 0.0]]), np.zeros((1, 2)), "a holds NaN", id="nan"),
        pytest.param(np.zeros((1, 2)), np.array([[np.inf, 0.0]]), "b holds NaN or infinite", id="inf"),
    ],
)
def test_cosine_similarity_rejects_malformed(a: Any, b: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cosine_similarity(a, b)


# --- fused_similarity --------------------------------------------------------------------------

# Gallery, vehicle and plate in 2-D:
#   g0 v (1,0) plate (0,1)      g1 v (1,1) plate (1,1)
#   g2 v (0,2) no plate (0,0)   g3 v (3,0) no plate (NaN, NaN): ignored, must not leak NaN
G_VEHICLE = [[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [3.0, 0.0]]
G_PLATE = [[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [NAN, NAN]]
G_HAS_PLATE = [True, True, False, False]


@pytest.mark.parametrize(
    ("q_vehicle", "q_plate", "q_has_plate", "expected"),
    [
        # Plated query v (1,0) p (1,0). g0: 0.5*1 + 0.5*0; g1: 0.5*R2 + 0.5*R2; g2, g3 have no
        # plate, so their plate half counts 0: 0.5*0 and 0.5*1.
        pytest.param([1.0, 0.0], [1.0, 0.0], True, [0.5, R2, 0.0, 0.5], id="query_with_plate"),
        # Plateless query (plate row NaN, ignored): vehicle cosine with every item.
        pytest.param([1.0, 1.0], [NAN, NAN], False, [R2, 1.0, R2, R2], id="query_without_plate"),
        # Plate agreement lifts a mediocre vehicle match: g0 0.5*0 + 0.5*1.
        # A perfect vehicle match without a plate (g2, 0.5*1) ranks with a fused item whose plate
        # agrees but vehicle does not (g0): on one scale, not above it.
        pytest.param([0.0, 5.0], [0.0, 2.0], True, [0.5, 0.5 * R2 + 0.5 * R2, 0.5, 0.0], id="plate_decides"),
    ],
)
def test_fused_similarity_hand_computed(
    q_vehicle: list[float], q_plate: list[float], q_has_plate: bool, expected: list[float]
) -> None:
    sim = fused_similarity(
        np.array([q_vehicle]),
        np.array([q_plate]),
        np.array([q_has_plate]),
        np.array(G_VEHICLE),
        np.array(G_PLATE),
        np.array(G_HAS_PLATE),
    )
    assert sim.shape == (1, 4)
    np.testing.assert_allclose(sim, [expected], atol=1e-12)


def test_fused_similarity_missing_plate_prior_fills_only_the_unknown_plate_half() -> None:
    # Plated query v (1,0) p (1,0), prior 0.4: g0, g1 keep their plate cosines (0 and R2); the
    # plateless g2, g3 get 0.5*vehicle + 0.5*0.4. A plateless query ignores the prior.
    args = (np.array(G_VEHICLE), np.array(G_PLATE), np.array(G_HAS_PLATE))
    plated = fused_similarity(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), np.array([True]), *args, 0.4)
    np.testing.assert_allclose(plated, [[0.5, R2, 0.2, 0.7]], atol=1e-12)
    plateless = fused_similarity(
        np.array([[1.0, 1.0]]), np.array([[NAN, NAN]]), np.array([False]), *args, 0.4
    )
    np.testing.assert_allclose(plateless, [[R2, 1.0, R2, R2]], atol=1e-12)


@pytest.mark.parametrize("prior", [1.5, -1.01, NAN])
def test_fused_similarity_rejects_a_prior_that_is_no_cosine(prior: float) -> None:
    with pytest.raises(ValueError, match="missing_plate must be a cosine"):
        fused_similarity(
            np.ones((1, 2)), np.ones((1, 2)), [True], np.ones((1, 2)), np.ones((1, 2)), [False], prior
        )


def test_fused_similarity_equals_cosine_of_concatenated_features_when_both_have_plates() -> None:
    rng = np.random.default_rng(0)
    qv, qp, gv, gp = (rng.normal(size=(n, 8)) for n in (3, 3, 5, 5))

    def fuse(v: npt.NDArray[np.float64], p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        unit_v = v / np.linalg.norm(v, axis=1, keepdims=True)
        unit_p = p / np.linalg.norm(p, axis=1, keepdims=True)
        return np.concatenate([unit_v, unit_p], axis=1)

    sim = fused_similarity(qv, qp, np.ones(3, bool), gv, gp, np.ones(5, bool))
    np.testing.assert_allclose(sim, cosine_similarity(fuse(qv, qp), fuse(gv, gp)), atol=1e-12)


@pytest.mark.parametrize(("q", "g"), [(0, 3), (2, 0), (0, 0)])
def test_fused_similarity_empty(q: int, g: int) -> None:
    sim = fused_similarity(
        np.zeros((q, 4)),
        np.zeros((q, 2)),
        np.zeros(q, bool),
        np.zeros((g, 4)),
        np.zeros((g, 2)),
        np.zeros(g, bool),
    )
    assert sim.shape == (q, g)


def test_fused_similarity_accepts_empty_lists_for_flags() -> None:
    sim = fused_similarity(np.zeros((0, 4)), np.zeros((0, 2)), [], np.ones((1, 4)), np.ones((1, 2)), [True])
    assert sim.shape == (0, 1)


def _fused_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "q_vehicle": np.ones((2, 4)),
        "q_plate": np.ones((2, 3)),
        "q_has_plate": np.array([True, False]),
        "g_vehicle": np.ones((1, 4)),
        "g_plate": np.ones((1, 3)),
        "g_has_plate": np.array([True]),
    }
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"q_has_plate": np.array([1, 0])}, "q_has_plate must be a boolean", id="int_flags"),
        pytest.param(
            {"g_has_plate": np.array([True, True])}, r"g_has_plate.*\(1,\).*\(2,\)", id="flag_length"
        ),
        pytest.param(
            {"q_plate": np.ones((3, 3))}, r"q_plate must have shape \(2, D\).*\(3, 3\)", id="plate_rows"
        ),
        pytest.param({"g_plate": np.ones(3)}, r"g_plate must have shape \(1, D\)", id="plate_1d"),
        pytest.param(
            {"g_vehicle": np.ones((1, 5))}, "q_vehicle and g_vehicle must have the same width", id="dv"
        ),
        pytest.param({"g_plate": np.ones((1, 2))}, "q_plate and g_plate must have the same width", id="dp"),
        pytest.param({"q_vehicle": np.full((2, 4), NAN)}, "q_vehicle holds NaN", id="nan_vehicle"),
        # Query 0 has a plate, so a NaN in its plate row is an error, unlike in a plateless row.
        pytest.param({"q_plate": np.array([[NAN] * 3, [0.0] * 3])}, "q_plate holds NaN", id="nan_used_plate"),
    ],
)
def test_fused_similarity_rejects_malformed(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fused_similarity(**_fused_args(**overrides))
