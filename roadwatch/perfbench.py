"""``roadwatch bench pipeline``: N synthetic 1280×720 cameras through the whole pipeline in real
time, against the plain pipeline on the same footage (docs/PERFORMANCE.md).

1. The toll road (seed 7) is rendered once at the asked frame rate, every camera at 1280×720,
   into video files; camera k reads the video of scenario camera k mod 3. Rendering is done
   before anything is timed, so the figures count roadwatch's work, not the renderer's.
2. **Live run**: the N videos are read as live cameras (``pace: live``: at their frame rate,
   the oldest frame dropped when the pipeline falls behind, as a camera's would be), through
   every stage to sightings, the event stream and the alert engine. ``fps_processed``,
   ``frames_dropped``, latency (frame decoded → its sightings written), CPU and memory.
3. **Capacity**: the same footage as fast as the pipeline goes (nothing dropped): ``fast_fps``.
4. **Plain**: :class:`roadwatch.plain.PlainPipeline` (the detector in torch eager mode) over
   ``plain_frames`` frames spread evenly over the same videos, decoding included:
   ``plain_fps``; ``speedup_vs_plain`` = fast_fps / plain_fps (both count decoding and every
   stage, neither waits for a camera).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2

from config import CameraConfig, RoadwatchConfig
from roadwatch.errors import CliError
from streams.frame import Frame
from streams.sources import Capture, VideoFileSource

_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Sampler:
    """Peak resident memory of this process, sampled every 0.2 s on a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_bytes())
            if self._stop.wait(0.2):
                return


def rss_bytes() -> int:
    """Resident memory of this process now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


def footage(folder: Path, fps: float, seconds: float, seed: int = 7) -> list[Path]:
    """The toll road's three cameras at 1280×720 and ``fps``, rendered once into ``folder``."""
    from roadwatch.cli.demo import rendered
    from synth.scenario import load_scenario

    spec = load_scenario("toll-road")
    cameras = tuple(c.model_copy(update={"resolution": (1280, 720)}) for c in spec.cameras)
    spec = spec.model_copy(update={"duration_s": seconds, "fps": fps, "cameras": cameras})
    return rendered(spec, seed, folder / f"bench-seed{seed}-{fps:g}fps-{seconds:g}s")


def run_bench(
    base: RoadwatchConfig,
    folder: Path,
    counts: Sequence[int],
    *,
    fps: float,
    seconds: float,
    plain_frames: int = 150,
    bad: str | None = None,
) -> list[dict[str, Any]]:
    """One result per camera count (the keys of docs/PERFORMANCE.md); ``bad`` (``fast``, ``4k``
    or ``burst``) makes the last camera misbehave."""
    videos = footage(folder, fps, seconds)
    shutil.rmtree(folder / "bench-run", ignore_errors=True)  # before any of this process's servers start
    return [_one(base, folder, videos, n, seconds, plain_frames, bad) for n in counts]


def _config(base: RoadwatchConfig, folder: Path, run: str) -> RoadwatchConfig:
    """A fresh gallery and outputs for one run, each in its own folder: an embedded Redis server
    stays up until the process ends, and wiping its folder under it would keep it from saving
    and stopping then."""
    from roadwatch.cli.common import fresh_run
    from roadwatch.cli.demo import site_models

    cfg = fresh_run(base, folder / "bench-run" / run)
    return cfg.model_copy(update={"reid": site_models(base.reid)})


def _cameras(videos: list[Path], n: int, pace: str, bad: str | None = None) -> tuple[CameraConfig, ...]:
    paths = [videos[k % len(videos)] for k in range(n)]
    if bad in ("fast", "4k"):
        paths[-1] = misbehaving(paths[-1], bad)
    return tuple(CameraConfig(id=f"cam{k + 1}", kind="file", path=p, pace=pace) for k, p in enumerate(paths))


def misbehaving(video: Path, kind: str) -> Path:
    """``video`` as a misbehaving camera's recording, written once beside it: ``fast``, twice the
    frame rate over the same duration (the footage twice over at double speed); ``4k``, every
    frame scaled to 3840×2160."""
    out = video.with_name(f"{video.stem}-{kind}.mp4")
    if out.exists():
        return out
    cap = cv2.VideoCapture(str(video))
    fps, width, height = (
        cap.get(p) for p in (cv2.CAP_PROP_FPS, cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT)
    )
    cap.release()
    size = (3840, 2160) if kind == "4k" else (int(width), int(height))
    partial = out.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(
        str(partial), cv2.VideoWriter.fourcc(*"mp4v"), fps * (2 if kind == "fast" else 1), size
    )
    try:
        for _ in range(2 if kind == "fast" else 1):
            cap = cv2.VideoCapture(str(video))
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                writer.write(
                    cv2.resize(image, size, interpolation=cv2.INTER_CUBIC) if kind == "4k" else image
                )
            cap.release()
    finally:
        writer.release()
    partial.rename(out)
    return out


class BurstySource:
    """A recording played like a camera whose frames arrive in clumps (a congested network):
    every ``burst_s`` seconds, all of that interval's frames at once; the same frame rate on
    average. Frames are dropped, as a live camera's, when the pipeline is behind."""

    live = False
    drops_when_behind = True

    def __init__(self, path: Path, burst_s: float = 2.0) -> None:
        self._inner = VideoFileSource(path, pace="fast")
        self._burst_s = burst_s
        self._held: deque[Capture] = deque()
        self._next: Capture | None = None
        self._edge = 0.0
        self._start = 0.0

    @property
    def description(self) -> str:
        return f"{self._inner.description} (bursts every {self._burst_s:g} s)"

    @property
    def frame_count(self) -> int | None:
        return self._inner.frame_count

    def open(self) -> None:
        self._inner.open()
        self._start, self._edge = time.monotonic(), self._burst_s

    def read(self) -> Capture | None:
        while not self._held:  # gather the next interval's frames, release them at its end
            capture = self._next or self._inner.read()
            if capture is None:
                return None
            while capture is not None and capture.timestamp < self._edge:
                self._held.append(capture)
                capture = self._inner.read()
            self._next = capture
            time.sleep(max(0.0, self._start + self._edge - time.monotonic()))
            self._edge += self._burst_s
        return self._held.popleft()

    def close(self) -> None:
        self._inner.close()


def _one(
    base: RoadwatchConfig,
    folder: Path,
    videos: list[Path],
    n: int,
    seconds: float,
    plain_frames: int,
    bad: str | None = None,
) -> dict[str, Any]:
    from roadwatch.cli.common import run_pipeline

    print(f"bench pipeline: {n} cameras, live ...", file=sys.stderr)
    cfg = _config(base, folder, f"{n}-live")
    cameras = _cameras(videos, n, "live", bad)
    sources = {cameras[-1].id: BurstySource(videos[(n - 1) % len(videos)])} if bad == "burst" else None
    cpu0, wall0 = time.process_time(), time.monotonic()
    with _Sampler() as memory:
        live, _ = run_pipeline(
            cfg, cameras, cfg.outputs.events_path, append=False, json_mode=True, sources=sources
        )
    cpu = 100 * (time.process_time() - cpu0) / max(1e-9, time.monotonic() - wall0)
    print(f"bench pipeline: {n} cameras, as fast as it goes ...", file=sys.stderr)
    cfg = _config(base, folder, f"{n}-fast")
    fast, _ = run_pipeline(
        cfg,
        _cameras(videos, n, "fast", bad if bad != "burst" else None),
        cfg.outputs.events_path,
        append=False,
        json_mode=True,
    )
    print(f"bench pipeline: {n} cameras, plain ...", file=sys.stderr)
    plain = plain_fps(_config(base, folder, f"{n}-plain"), videos[: min(n, len(videos))], plain_frames)
    plain_onnx = plain_fps(
        _config(base, folder, f"{n}-plain-onnx"), videos[: min(n, len(videos))], plain_frames, eager=False
    )
    frames_offered = live.frames_read
    latency = live.latency_ms
    return {
        "cameras": n,
        "fps_offered": round(frames_offered / seconds, 2),
        "fps_processed": round(live.fps, 2),
        "frames_offered": frames_offered,
        "frames_processed": live.frames_processed,
        "frames_dropped": live.frames_dropped,
        "dropped_percent": round(100 * live.frames_dropped / frames_offered, 2) if frames_offered else 0.0,
        "latency_p50_ms": None if latency is None else round(latency[0], 1),
        "latency_p95_ms": None if latency is None else round(latency[1], 1),
        "cpu_percent": round(cpu, 1),
        "rss_mb": round(memory.peak / 2**20, 1),
        "stage_ms": dict(live.stage_ms),
        "fast_fps": round(fast.fps, 2),
        "plain_fps": round(plain, 2),
        "speedup_vs_plain": round(fast.fps / plain, 2) if plain else None,
        "plain_onnx_fps": round(plain_onnx, 2),
        "speedup_vs_plain_onnx": round(fast.fps / plain_onnx, 2) if plain_onnx else None,
        "bad_camera": None if bad is None else {"camera": cameras[-1].id, "kind": bad},
        "per_camera": [_camera_figures(c, live) for c in live.cameras],
    }


def _camera_figures(camera: Any, run: Any) -> dict[str, Any]:
    latency = run.camera_latency_ms.get(camera.camera_id)
    offered = camera.frames_read
    return {
        "camera": camera.camera_id,
        "frames_offered": offered,
        "frames_dropped": camera.frames_dropped,
        "dropped_percent": round(100 * camera.frames_dropped / offered, 2) if offered else 0.0,
        "latency_p95_ms": None if latency is None else round(latency[1], 1),
    }


def plain_fps(cfg: RoadwatchConfig, videos: list[Path], frames: int, *, eager: bool = True) -> float:
    """Frames per second of :class:`~roadwatch.plain.PlainPipeline` over ``frames`` frames
    spread evenly over the whole of ``videos`` (taken round robin), the decoding of each counted
    (as in the real pipeline's figure, where the readers decode); frames passed over are not.
    ``eager``: the detector in torch eager mode (the issue's plain pipeline); else the real
    pipeline's ONNX detector as configured (the plain design alone, on the same runtime)."""
    from roadwatch import app
    from roadwatch.plain import PlainPipeline, eager_detector

    if cfg.detectors.vehicle.kind != "builtin":
        raise CliError("bench pipeline: the plain pipeline needs detectors.vehicle.kind: builtin")
    try:
        stage = None if eager else app.detector(cfg.detectors)
        detection = eager_detector(cfg.detectors) if stage is None else stage.builtin
    except (OSError, ValueError) as exc:
        raise CliError(f"bench pipeline: the plain pipeline's detector: {exc}") from None
    assert detection is not None  # kind builtin
    plain = PlainPipeline(
        detection,
        app.embedder(cfg.reid),
        app.plate_reader(cfg.plates),
        app.gallery(cfg.gallery),
        cfg.reid.plate_input,
    )
    for frame, _ in _spread(videos, 1):
        plain.process(frame)  # warm-up (first-call allocations)
    spent = 0.0
    done = 0
    for frame, decoding in _spread(videos, frames):
        started = time.perf_counter()
        plain.process(frame)
        spent += decoding + time.perf_counter() - started
        done += 1
    return done / spent if spent else 0.0


def _spread(videos: list[Path], count: int) -> Iterator[tuple[Frame, float]]:
    """About ``count`` frames spread evenly over ``videos``: every k-th frame of each, round
    robin, each with the seconds its decoding took; the frames between are skipped undecoded."""
    captures = [cv2.VideoCapture(str(v)) for v in videos]
    try:
        longest = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) for cap in captures)
        step = max(1, longest * len(captures) // max(1, count))
        yielded = 0
        for index in range(longest):
            for camera, cap in enumerate(captures):
                if index % step or yielded >= count:
                    cap.grab()
                    continue
                started = time.perf_counter()
                ok, image = cap.read()
                if not ok:
                    continue
                pixels: Any = image
                yield Frame(f"cam{camera + 1}", index, 0.0, pixels), time.perf_counter() - started
                yielded += 1
            if yielded >= count:
                return
    finally:
        for cap in captures:
            cap.release()
