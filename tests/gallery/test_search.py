"""Search post-processing (method 5) on hand-made result sets: rank filter, entropy filter, ordering."""

from __future__ import annotations

import math

import pytest

from gallery.search import Candidate, category_entropy, postprocess


def test_rank_is_two_minus_distance_and_filters_at_1_08() -> None:
    results = postprocess(
        [Candidate("a", 0.10, "car"), Candidate("b", 0.92, "car"), Candidate("c", 0.93, "car")],
        max_entropy=10.0,
    )
    assert [r.identity for r in results] == ["a", "b"]  # rank 1.07 for c is below 1.08
    assert results[0].rank == pytest.approx(1.90)
    assert results[1].rank == pytest.approx(1.08)


def test_distance_threshold_forms_the_similar_set() -> None:
    results = postprocess(
        [Candidate("a", 0.2, "car"), Candidate("b", 0.5, "car")], max_distance=0.3, max_entropy=10.0
    )
    assert [r.identity for r in results] == ["a"]


def test_entropy_by_hand_and_rare_categories_dropped() -> None:
    cands = [Candidate(f"c{i}", 0.1 + 0.01 * i, "car") for i in range(8)]
    cands += [Candidate("v0", 0.05, "van"), Candidate("v1", 0.06, "van")]
    cands += [Candidate("b0", 0.01, "bus")]  # the best match, but alone among 11
    entropy = category_entropy(cands)
    assert entropy["car"] == pytest.approx(-math.log(8 / 11))
    assert entropy["bus"] == pytest.approx(math.log(11))
    # threshold log(10) = 2.303: bus (2.398) goes, van (log 5.5 = 1.705) and car stay
    results = postprocess(cands)
    assert {r.category for r in results} == {"car", "van"}
    assert len(results) == 10


def test_categories_ordered_by_their_members_positions_then_rank() -> None:
    # by rank: v0 (1), c0 (2), c1 (3), c2 (4), v1 (5)
    # van: 1 + 1/5 = 1.2; car: 1/2 + 1/3 + 1/4 = 1.0833 → van first
    cands = [
        Candidate("c1", 0.30, "car"),
        Candidate("v1", 0.50, "van"),
        Candidate("c0", 0.20, "car"),
        Candidate("v0", 0.10, "van"),
        Candidate("c2", 0.40, "car"),
    ]
    results = postprocess(cands, max_entropy=10.0)
    assert [r.identity for r in results] == ["v0", "v1", "c0", "c1", "c2"]
    assert results[0].category_score == pytest.approx(1.2)
    assert results[2].category_score == pytest.approx(1 / 2 + 1 / 3 + 1 / 4)


def test_empty_and_bad_input() -> None:
    assert postprocess([]) == []
    with pytest.raises(ValueError, match=r"candidate x: distance must lie in \[0, 2\]"):
        postprocess([Candidate("x", float("nan"), "car")])
    with pytest.raises(ValueError, match="distance must lie"):
        postprocess([Candidate("x", 2.5, "car")])
