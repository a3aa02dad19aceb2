"""The plate-reading stage: one batch for every request's plate views, a vote per track, carried
into the sighting (the reader's engine is a stand-in: the unit under test is the stage)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gallery.gallery import Match
from plates.formats import formats_for
from plates.read import Image, PlateRead
from plates.reader import FormattedReader
from roadwatch.stages.plates import PlateStage
from roadwatch.stages.recognise import Recognition
from roadwatch.stages.shots import BestShots, ShotOptions
from roadwatch.stages.sightings import SightingBook
from roadwatch.stages.track import TrackStage
from tests.roadwatch.stages.test_stages import CLASSES, PLATE, _car, _frame
from tracking import TrackerOptions


class Scripted:
    """Reads every crop as the next text of a script, and counts its calls."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.calls: list[int] = []

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        self.calls.append(len(crops))
        out = [PlateRead(t, (0.9,) * len(t)) for t in self.texts[: len(crops)]]
        del self.texts[: len(crops)]
        return out


class Broken:
    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        raise RuntimeError("onnxruntime fell over")


def _requests(plated: Sequence[bool]) -> list:
    """One 'end' request per track, plated or not, each with three frames of views."""
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.0, views=3))
    out = []
    for k, plate in enumerate(plated):
        camera = f"cam{k}"
        for i in range(3):
            frame = _frame(i, camera=camera)
            shots.update(stage.update(frame, _car(40 + 10 * i, plate=plate)))
        request = shots.end(camera, 1)
        assert request is not None
        out.append(request)
    return out


def test_all_views_of_all_requests_go_in_one_call_and_each_track_votes() -> None:
    requests = _requests([True, False, True])
    n0, n2 = len(requests[0].shot.plate_views), len(requests[2].shot.plate_views)
    assert n0 >= 2
    assert n2 >= 2
    assert requests[1].shot.plate_views == ()
    engine = Scripted(["AB123CD"] * (n0 - 1) + ["A8123CD"] + ["XY999ZZ"] * n2)
    votes = PlateStage(FormattedReader(engine, formats_for(["fr"]))).read(requests)
    assert engine.calls == [n0 + n2]
    assert votes[1] is None
    assert votes[0] is not None
    assert votes[0].read.text == "AB123CD"
    assert votes[0].reads == n0
    assert votes[2] is not None
    assert votes[2].read.text == "XY999ZZ"


def test_requests_without_plates_call_no_reader() -> None:
    engine = Scripted([])
    assert PlateStage(FormattedReader(engine, formats_for(["fr"]))).read(_requests([False])) == [None]
    assert engine.calls == []


def test_a_failing_reader_costs_the_text_not_the_pipeline() -> None:
    stage = PlateStage(FormattedReader(Broken(), formats_for(["fr"])))
    [vote] = stage.read(_requests([True]))
    assert vote is not None
    assert not vote.read.readable
    assert stage.errors == 1


def test_the_final_sighting_carries_the_vote() -> None:
    requests = _requests([True])
    votes = PlateStage(FormattedReader(Scripted(["AB123CD"] * 5), formats_for(["fr"]))).read(requests)
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    book = SightingBook(CLASSES)
    book.observe(stage.update(_frame(0, camera="cam0"), _car(40)))
    book.asked("cam0", 1)
    book.end("cam0", 1, requests[0].shot)
    book.recognised(
        Recognition(requests[0], Match(3, "fusion", 0.95, new=True), None, final=True, plate=votes[0])
    )
    [sighting] = book.release_all()
    assert (sighting.plate_text, sighting.plate_region) == ("AB123CD", "fr")
    assert sighting.plate_reads == len(requests[0].shot.plate_views)
    assert sighting.plate_confidence is not None
    assert 0 < sighting.plate_confidence <= 1
    assert np.isfinite(sighting.plate_confidence)
