"""A live camera that renders a scenario in real time (``kind: synthetic`` in the config)."""

from __future__ import annotations

import time

from config.loader import ConfigError
from config.schema import CameraConfig
from streams.sources import Capture, SourceError
from synth.render import CameraRenderer
from synth.scenario import load_scenario
from synth.world import simulate


class SyntheticSource:
    """Renders one camera of a scenario at its frame rate, looping over the scenario's duration.

    Args:
        scenario: Bundled scenario name or YAML file.
        camera: Camera id in the scenario; None: its first camera.
        seed: World seed.
        paced: Deliver frames at the scenario's fps (a live camera); False: as fast as possible.
    """

    live = True
    frame_count = None

    def __init__(
        self, scenario: str, *, camera: str | None = None, seed: int = 0, paced: bool = True
    ) -> None:
        self._scenario = scenario
        self._camera = camera
        self._seed = seed
        self._paced = paced
        self._renderer: CameraRenderer | None = None
        self._index = 0
        self._start = 0.0

    @property
    def description(self) -> str:
        return f"synthetic:{self._scenario}/{self._camera or '(first camera)'}"

    def open(self) -> None:
        try:
            spec = load_scenario(self._scenario)
        except ConfigError as exc:
            raise SourceError(f"{self.description}: {exc}", retryable=False) from None
        camera = self._camera or spec.cameras[0].id
        try:
            spec.camera(camera)
        except KeyError as exc:
            raise SourceError(str(exc.args[0]), retryable=False) from None
        self._renderer = CameraRenderer(simulate(spec, self._seed), camera)
        self._index = 0
        self._start = time.monotonic()

    def read(self) -> Capture | None:
        renderer = self._renderer
        if renderer is None:
            raise SourceError(f"{self.description}: read before open", retryable=False)
        if self._paced:
            delay = self._start + self._index / renderer.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        image, _ = renderer.render(self._index % renderer.frame_count)
        self._index += 1
        return Capture(timestamp=time.time(), image=image)

    def close(self) -> None:
        self._renderer = None


def synthetic_source(camera: CameraConfig) -> SyntheticSource:
    """The ``synthetic`` factory handed to :func:`streams.build_readers`."""
    assert camera.scenario is not None  # guaranteed by CameraConfig validation
    return SyntheticSource(camera.scenario, camera=camera.scenario_camera, seed=camera.seed)
