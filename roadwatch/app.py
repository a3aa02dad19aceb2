"""Where the app is composed: config → detector, re-id, gallery, stages, sinks.

Plain functions, each given only its own config subtree. Every command that needs one of these
parts builds it here, so ``run``, ``replay``, ``demo``, ``detect`` and ``search`` agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alerts.delivery import AlertSink, JsonlAlertSink, MqttSink, WebhookSink
from alerts.engine import AlertEngine, kept_sightings
from alerts.rules import TollOptions, TollRule, WatchRule
from alerts.schema import Alert
from alerts.watchlist import WatchEntry, Watchlist, WatchlistError, WatchlistStore
from config.alerts import AlertsConfig, WatchlistEntry
from config.plates import PlatesConfig
from config.schema import (
    CameraConfig,
    CameraLink,
    DetectorsConfig,
    GalleryConfig,
    OutputsConfig,
    RecognitionConfig,
    ReidConfig,
    StillConfig,
    TrackingConfig,
)
from detectors.gate import ColourNamer, IntentGate
from detectors.runtime import DetectorModelError, execution_providers
from detectors.stage import BUNDLED, CLASSES, PLATE, DetectionStage, build_detector
from gallery.connect import open_gallery
from gallery.gallery import Gallery
from plates.reader import FormattedReader
from reid.embedder import Embedder, EmbedderError
from roadwatch.errors import CliError
from roadwatch.flow import Flow, Stages
from roadwatch.snapshots import SnapshotJanitor, SnapshotWriter
from roadwatch.stages.plates import PlateStage
from roadwatch.stages.recognise import Recogniser
from roadwatch.stages.shots import BestShots, ShotOptions
from roadwatch.stages.sightings import SightingBook
from roadwatch.stages.still import StillFrames
from roadwatch.stages.track import TrackStage
from tracking import TrackerOptions

REID_MODELS = Path(__file__).resolve().parent.parent / "reid" / "models"


def detector(cfg: DetectorsConfig) -> DetectionStage | None:
    """The configured detection stage (None for ``kind: none``); refused before any camera opens.

    Raises:
        CliError: A model is missing, unloadable or answers with the wrong layout.
    """
    try:
        return build_detector(cfg)
    except DetectorModelError as exc:
        raise CliError(f"detectors: {exc}") from None


def reid_model_paths(cfg: ReidConfig, folder: Path | None = None) -> tuple[Path, Path]:
    """The vehicle and plate models: in ``folder``, else the config's, else the shipped ones."""
    if folder is not None:
        return folder / "vehicle.onnx", folder / "plate.onnx"
    return cfg.vehicle_model or REID_MODELS / "vehicle.onnx", cfg.plate_model or REID_MODELS / "plate.onnx"


def embedder(cfg: ReidConfig) -> Embedder:
    """The vehicle and plate networks (the shipped ones unless the config names others).

    Raises:
        CliError: A model cannot be loaded or the two do not fit together.
    """
    try:
        return Embedder.from_files(
            *reid_model_paths(cfg),
            provider=cfg.provider,
            threads=cfg.threads,
            batch_size=cfg.batch_size,
        )
    except EmbedderError as exc:
        raise CliError(f"reid: {exc}") from None


def gallery(cfg: GalleryConfig) -> Gallery:
    """The gallery, its indexes loaded (raises ``GalleryUnavailableError`` naming the server)."""
    return open_gallery(cfg)


def plate_reader(cfg: PlatesConfig) -> FormattedReader | None:
    """The configured plate reader with its region formats and confidence floor (None for
    ``engine: none``).

    Raises:
        CliError: An unknown region, a bad regex, or an engine that cannot load (naming the
            field or the file).
    """
    from plates.ctc import CtcReader, RecogniserError
    from plates.formats import formats_for
    from plates.ppocr import PlateReaderError, PpOcrReader

    if cfg.engine == "none":
        return None
    try:
        formats = formats_for(cfg.regions, cfg.formats)
    except ValueError as exc:
        raise CliError(f"plates.regions / plates.formats: {exc}") from None
    providers = execution_providers(cfg.provider)
    try:
        engine = (
            CtcReader(cfg.model, threads=cfg.threads, providers=providers)
            if cfg.engine == "roadwatch"
            else PpOcrReader(cfg.model, threads=cfg.threads, providers=providers)
        )
    except (RecogniserError, PlateReaderError) as exc:
        raise CliError(f"plates.engine {cfg.engine}: {exc}") from None
    return FormattedReader(
        engine,
        formats,
        min_confidence=cfg.min_confidence,
        require_format=cfg.require_format,
        max_swaps=cfg.max_swaps,
    )


def tracker_options(cfg: TrackingConfig) -> TrackerOptions:
    """ByteTrack options from the ``tracking`` section."""
    return TrackerOptions(
        high_score=cfg.high_score,
        low_score=cfg.low_score,
        new_track_score=cfg.new_track_score,
        match_iou=cfg.match_iou,
        low_match_iou=cfg.low_match_iou,
        buffer=cfg.buffer,
        min_hits=cfg.min_hits,
        max_lost=cfg.max_lost,
    )


def stages(
    *,
    detection: DetectionStage,
    reid: Embedder,
    identities: Gallery,
    tracking: TrackingConfig,
    recognition: RecognitionConfig,
    reid_cfg: ReidConfig,
    gallery_cfg: GalleryConfig,
    links: Sequence[CameraLink],
    outputs: OutputsConfig,
    reader: FormattedReader | None = None,
    colours: ColourNamer | None = None,
    still: StillFrames | None = None,
) -> Stages:
    """The pipeline's stages around built models and gallery."""
    shot_options = ShotOptions(
        min_quality=recognition.min_quality,
        rematch_gain=recognition.rematch_gain,
        views=recognition.views,
        min_plate_px=recognition.min_plate_px,
        plate_size=reid_cfg.plate_input,
        two_line_aspect=reid.two_line_aspect,
    )
    return Stages(
        detector=detection,
        tracks=TrackStage(tracker_options(tracking), PLATE),
        shots=BestShots(shot_options),
        recogniser=Recogniser(
            reid,
            identities,
            CLASSES,
            links=[(k.from_camera, k.to_camera, k.min_s, k.max_s) for k in links],
            linked_threshold=gallery_cfg.linked_threshold,
            linked_margin=gallery_cfg.linked_margin,
            candidates=gallery_cfg.candidates,
            plate_text_confidence=gallery_cfg.plate_text_confidence,
            same_camera_s=gallery_cfg.plate_text_same_camera_s,
        ),
        sightings=SightingBook(
            CLASSES,
            outputs.snapshots_dir,
            merge_gap_s=recognition.merge_gap_s,
            hold_frames=tracking.max_lost + recognition.merge_hold_frames,
            min_pass_px=recognition.min_pass_px,
            min_pass_s=recognition.min_pass_s,
            min_move=recognition.min_move,
            stationary_s=recognition.stationary_s,
            colour_of=colours,
        ),
        snapshots=SnapshotWriter() if outputs.snapshots_dir is not None else None,
        plates=PlateStage(reader) if reader is not None else None,
        still=still,
    )


def still_frames(cfg: StillConfig, cameras: Sequence[CameraConfig]) -> StillFrames | None:
    """The still-frame gate over the cameras' regions of interest (None when turned off)."""
    if not cfg.enabled:
        return None
    roi = {c.id: c.roi for c in cameras if c.roi}
    return StillFrames(threshold=cfg.threshold, share=cfg.share, max_skip_s=cfg.max_skip_s, roi=roi)


def intent_gate(cfg: DetectorsConfig) -> IntentGate:
    """The intent gate: the configured gate model, else the bundled one.

    Raises:
        CliError: The gate model cannot be loaded.
    """
    try:
        return IntentGate(cfg.vehicle.gate_model or BUNDLED / "gate.onnx", provider=cfg.provider)
    except DetectorModelError as exc:
        raise CliError(f"detectors.vehicle.gate_model: {exc}") from None


def colour_namer(cfg: DetectorsConfig) -> ColourNamer:
    """Sightings' colour names from the intent gate's colour head.

    Raises:
        CliError: The gate model cannot be loaded.
    """
    return ColourNamer(intent_gate(cfg))


def flow(built: Stages, recognition: RecognitionConfig) -> Flow:
    """The stages in order."""
    return Flow(built, finish_wait_s=recognition.finish_wait_s)


def watch_entry(item: WatchlistEntry) -> WatchEntry:
    """A config-form watchlist entry as the alert rules take it.

    Raises:
        WatchlistError: The rules refuse it (naming it).
    """
    kind, value = item.match
    return WatchEntry.make(
        kind, value, note=item.note, severity=item.severity, max_distance=item.max_distance, entry_id=item.id
    )


def watch_entries(cfg: AlertsConfig) -> list[WatchEntry]:
    """The config's watchlist entries as the alert rules take them.

    Raises:
        CliError: An entry the rules refuse (naming it).
    """
    entries = []
    for i, item in enumerate(cfg.watchlist):
        try:
            entries.append(watch_entry(item))
        except WatchlistError as exc:
            raise CliError(f"alerts.watchlist[{i}]: {exc}") from None
    return entries


def alert_sinks(cfg: AlertsConfig) -> list[AlertSink]:
    """JSON lines, webhooks and MQTT as configured.

    Raises:
        CliError: The alert log or a spool folder cannot be written.
    """
    sinks: list[AlertSink] = []
    try:
        if cfg.jsonl_path is not None:
            sinks.append(JsonlAlertSink(cfg.jsonl_path))
        for hook in cfg.webhooks:
            name = hashlib.sha1(hook.url.encode()).hexdigest()[:12]
            secret = hook.secret.get_secret_value() if hook.secret is not None else None
            sinks.append(
                WebhookSink(
                    hook.url,
                    cfg.spool_dir / f"webhook-{name}.jsonl",
                    secret=secret,
                    timeout_s=hook.timeout_s,
                    retries=hook.retries,
                    queue_size=hook.queue_size,
                )
            )
    except OSError as exc:
        for sink in sinks:
            sink.close(0)
        raise CliError(f"alerts: {exc}") from None
    if cfg.mqtt is not None:
        m = cfg.mqtt
        password = m.password.get_secret_value() if m.password is not None else None
        sinks.append(
            MqttSink(
                m.host,
                m.port,
                prefix=m.prefix,
                client_id=m.client_id,
                username=m.username,
                password=password,
                queue_size=m.queue_size,
            )
        )
    return sinks


def alert_engine(
    cfg: AlertsConfig,
    identities: Gallery,
    namespace: str,
    *,
    links: Sequence[CameraLink] = (),
    on_alert: Callable[[Alert], None] | None = None,
) -> AlertEngine:
    """The alert engine on the gallery's Redis: the config's watchlist added to the shared one,
    the toll rule, the sinks; started.

    Raises:
        CliError: A bad watchlist entry, or an alert output that cannot be written.
    """
    client = identities.store.client
    store = WatchlistStore(client, namespace)
    store.add(watch_entries(cfg))
    toll = None
    if cfg.toll is not None:
        t = cfg.toll
        toll = TollRule(
            TollOptions(
                frozenset(t.entry_cameras),
                frozenset(t.gate_cameras),
                frozenset(t.exit_cameras),
                t.max_delay_s,
                t.severity,
                travel={(k.from_camera, k.to_camera): (k.min_s, k.max_s) for k in links},
            )
        )
    watch = WatchRule(
        Watchlist((), partial=cfg.partial_plates),
        follow_identity=cfg.follow_identity,
        lookback_s=cfg.lookback_s,
    )
    rebuild = max(cfg.lookback_s, cfg.toll.max_delay_s if cfg.toll is not None else 0.0)
    engine = AlertEngine(
        client,
        namespace,
        toll=toll,
        watch=watch,
        watchlist=store,
        sinks=alert_sinks(cfg),
        rebuild_s=rebuild,
        keep_s=cfg.keep_days * 86400,
        stream_max_len=cfg.stream_max_len,
        on_alert=on_alert,
    )
    return engine.start()


def snapshot_janitor(outputs: OutputsConfig, client: Any, namespace: str) -> SnapshotJanitor | None:
    """Snapshot retention as configured (None when snapshots are off or unlimited); started."""
    days, gb = outputs.snapshots_max_age_days, outputs.snapshots_max_gb
    if outputs.snapshots_dir is None or (days is None and gb is None):
        return None
    return SnapshotJanitor(
        outputs.snapshots_dir,
        max_age_s=days * 86400 if days is not None else None,
        max_bytes=int(gb * 1e9) if gb is not None else None,
        kept=lambda: kept_sightings(client, namespace),
        every_s=outputs.snapshots_sweep_s,
    ).start()
