"""``roadwatch eval video``: a real clip through the whole pipeline, scored against labels."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import CameraConfig
from roadwatch.cli.common import EXIT_OK, config_or_default, fresh_run, run_pipeline
from roadwatch.errors import CliError
from roadwatch.events import Sighting


def add_video_commands(groups: dict[str, Any]) -> None:
    """Register ``eval video``."""
    ev = groups["eval"].add_parser(
        "video",
        help="replay a labelled clip through the pipeline and count its passes, misses and false sightings",
    )
    ev.add_argument("--data", type=Path, required=True, help="the clip (a video file)")
    ev.add_argument("--labels", type=Path, required=True, help="its labels (JSON; docs/REAL-FOOTAGE.md)")
    ev.add_argument("--config", type=Path, help="config file (its cameras are ignored)")
    ev.add_argument("--out", type=Path, help="folder for events, snapshots and the contact sheet")
    ev.add_argument("--json", action="store_true", help="print a JSON object last")
    ev.set_defaults(handler=cmd_eval_video)


def _clip_facts(path: Path) -> tuple[float, int]:
    """Frame rate and frame count of a clip."""
    import cv2

    if not path.is_file():
        raise CliError(f"{path}: no such clip")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise CliError(f"{path}: not a video OpenCV can read")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()
    if not 0 < fps < 1000:
        raise CliError(f"{path}: the clip does not say its frame rate")
    return fps, frames


def cmd_eval_video(args: argparse.Namespace) -> int:
    """Replay the clip at full speed, match its final sightings to the labels, write the sheet."""
    from roadwatch.videoeval import (
        LabelError,
        load_labels,
        match_sightings,
        score_video,
        sighting_sheet,
        snapshot_crops,
    )

    fps, frames = _clip_facts(args.data)
    try:
        labels = load_labels(args.labels, frames / fps if frames else None)
    except LabelError as exc:
        raise CliError(str(exc)) from None
    for vehicle in labels.beyond_end:
        print(
            f"roadwatch: warning: {args.labels}: {vehicle} enters after the clip ends; not counted",
            file=sys.stderr,
        )
    out = args.out or Path("var/eval-video") / args.data.stem
    cfg = fresh_run(config_or_default(args.config), out / "run")
    camera = CameraConfig(id="clip", kind="file", path=args.data)
    seen: list[Sighting] = []
    summary, _ = run_pipeline(
        cfg, (camera,), cfg.outputs.events_path, append=False, json_mode=True, on_sighting=seen.append
    )
    matches = match_sightings(seen, labels, fps)
    figures = score_video(matches, labels)
    try:
        sheet = sighting_sheet(out / "sightings.png", matches, snapshot_crops([m.sighting for m in matches]))
    except OSError as exc:
        raise CliError(str(exc)) from None
    result = {
        **figures,
        "frames": summary.frames_processed,
        "fps": round(summary.fps, 2),
        "stage_ms": dict(summary.stage_ms),
        "tracks": dict(summary.tracks),
        "events_path": str(cfg.outputs.events_path),
        "contact_sheet": str(sheet),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{figures['passes_found']} of {figures['passes_truth']} passes found, "
            f"{figures['false_sightings']} false and {figures['duplicate_sightings']} duplicate sightings "
            f"({figures['events_per_pass']} per pass); {result['frames']} frames at {result['fps']} fps\n"
            f"missed: {', '.join(figures['missed']) or 'none'}\ncontact sheet: {sheet}"
        )
    return EXIT_OK
