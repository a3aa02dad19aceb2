"""The per-track vote: character by character, weighted by confidence and plate size."""

from __future__ import annotations

import pytest

from plates.read import PlateRead
from plates.vote import SIZE_CAP, Ballot, vote


def _b(text: str, conf: float = 0.9, height: float = 20.0, region: str = "") -> Ballot:
    return Ballot(PlateRead(text, (conf,) * len(text), region), height)


def test_no_ballots_is_unreadable() -> None:
    result = vote([])
    assert (result.read.readable, result.read.reason, result.reads) == (False, "no readable plate", 0)


def test_unreadable_ballots_are_ignored() -> None:
    result = vote([Ballot(PlateRead.unreadable("low confidence"), 30), _b("AB123CD")])
    assert (result.read.text, result.reads) == ("AB123CD", 1)


def test_each_character_goes_to_its_majority() -> None:
    # Three reads, each wrong in a different place: the vote is right everywhere.
    result = vote([_b("AB123CD"), _b("A8123CD"), _b("AB1Z3CD"), _b("AB123C0")])
    assert result.read.text == "AB123CD"
    assert result.reads == 4
    # Position 1: B from 3 of 4 equal votes -> share 0.75, mean confidence 0.9.
    assert result.read.chars[1] == pytest.approx(0.75 * 0.9)
    assert result.read.chars[0] == pytest.approx(0.9)


def test_a_large_plate_outvotes_small_ones() -> None:
    result = vote([_b("AB123CD", height=40), _b("A8123CD", height=10), _b("A8123CD", height=10)])
    assert result.read.text == "AB123CD"


def test_size_beyond_the_cap_adds_nothing() -> None:
    a = vote([_b("AB1", height=SIZE_CAP), _b("A81", height=SIZE_CAP * 0.99), _b("A81", height=1)])
    b = vote([_b("AB1", height=SIZE_CAP * 10), _b("A81", height=SIZE_CAP * 0.99), _b("A81", height=1)])
    assert a.read.text == b.read.text == "A81"


def test_confident_reads_outvote_unsure_ones() -> None:
    result = vote([_b("AB123CD", conf=0.95), _b("A8123CD", conf=0.3), _b("A8123CD", conf=0.3)])
    assert result.read.text == "AB123CD"


def test_the_weightiest_length_wins_and_only_its_reads_vote() -> None:
    result = vote([_b("AB123CD"), _b("AB123CD"), _b("AB1230D", height=5), _b("AB12CD", height=30)])
    assert result.read.text == "AB123CD"
    assert result.reads == 4


def test_region_comes_from_reads_of_the_voted_text() -> None:
    result = vote([_b("AB123CD", region="fr"), _b("AB123CD", region="it"), _b("AB123CD", region="fr")])
    assert result.read.region == "fr"
    mixed = vote([_b("AB123CD", region=""), _b("A8123CD", region="xx"), _b("AB123CD", region="")])
    assert mixed.read.region == ""
