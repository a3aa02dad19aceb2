"""Config validation: tables of good and bad YAML files, error wording, secrets, freezing."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from config import ConfigError, RoadwatchConfig, load_config, validate_config

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "config" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))

# Distinctive secrets: if one of these appears in an error text, it leaked.
PASSWORD = "s3cr3t-Pw9"
TOKEN = "t0ken-Xq7"


def _write(tmp_path: Path, text: str, name: str = "roadwatch.yaml") -> Path:
    """Write ``text`` to a config file one folder below ``tmp_path`` (so base dir != tmp_path)."""
    folder = tmp_path / "site"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


RTSP_CAM = "  - {id: cam-a, kind: rtsp, url: 'rtsp://192.0.2.1:554/s'}\n"
RTSP_CAM_B = "  - {id: cam-b, kind: rtsp, url: 'rtsp://192.0.2.2/s'}\n"


# --- good configs ---------------------------------------------------------------------------------

# (yaml text, what to read from the loaded config, expected value; a callable expected value
# receives the folder of the config file)
GOOD: list[Any] = [
    pytest.param("", lambda c: (c.cameras, c.api.port, c.alerts.toll), ((), 8080, None), id="empty-file"),
    pytest.param("# nothing but a comment\n", lambda c: c.cameras, (), id="comment-only"),
    pytest.param("cameras: []\n", lambda c: c.cameras, (), id="empty-camera-list"),
    pytest.param(
        "cameras:\n  - {id: gate-1, kind: rtsp, url: 'rtsp://viewer:pw@192.0.2.10:554/stream1'}\n",
        lambda c: (c.cameras[0].id, c.cameras[0].kind, c.cameras[0].url, c.cameras[0].live),
        ("gate-1", "rtsp", "rtsp://viewer:pw@192.0.2.10:554/stream1", True),
        id="rtsp-camera",
    ),
    pytest.param(
        "cameras:\n  - {id: cam.2, kind: rtsp, url: 'rtsps://192.0.2.10/s'}\n",
        lambda c: c.cameras[0].url,
        "rtsps://192.0.2.10/s",
        id="rtsps-camera",
    ),
    pytest.param(
        "cameras:\n  - {id: web_1, kind: http, url: 'http://192.0.2.12:8080/video.mjpg'}\n",
        lambda c: (c.cameras[0].kind, c.cameras[0].url, c.cameras[0].live),
        ("http", "http://192.0.2.12:8080/video.mjpg", True),
        id="http-camera",
    ),
    pytest.param(
        "cameras:\n  - {id: clip, kind: file, path: /data/clip.mp4}\n",
        lambda c: (c.cameras[0].path, c.cameras[0].live, c.cameras[0].url),
        (Path("/data/clip.mp4"), False, None),
        id="file-camera-absolute-path",
    ),
    pytest.param(
        "cameras:\n  - {id: clip, kind: file, path: clips/a.mp4, pace: native}\n",
        lambda c: (c.cameras[0].path, c.cameras[0].pace),
        lambda base: (base / "clips" / "a.mp4", "native"),
        id="file-camera-relative-path",
    ),
    pytest.param(
        "cameras:\n  - {id: archive, kind: folder, path: frames, folder_fps: 5}\n",
        lambda c: (c.cameras[0].path, c.cameras[0].folder_fps),
        lambda base: (base / "frames", 5.0),
        id="folder-camera-relative-path",
    ),
    pytest.param(
        "cameras:\n  - {id: archive, kind: folder, path: ../shared/frames}\n",
        lambda c: c.cameras[0].path,
        lambda base: base / ".." / "shared" / "frames",
        id="folder-camera-parent-relative-path",
    ),
    pytest.param(
        "cameras:\n  - id: cam-a\n    kind: rtsp\n    url: rtsp://192.0.2.1/s\n"
        "    roi: [[0.0, 0.3], [1.0, 0.3], [1.0, 1.0], [0, 1]]\n",
        lambda c: c.cameras[0].roi,
        ((0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)),
        id="roi-polygon",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://192.0.2.1/s', fps_cap: 2.5}\n",
        lambda c: c.cameras[0].fps_cap,
        2.5,
        id="fps-cap",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://192.0.2.1/s',"
        " reconnect: {initial_s: 1, max_s: 1}}\n",
        lambda c: (c.cameras[0].reconnect.initial_s, c.cameras[0].reconnect.max_s),
        (1.0, 1.0),
        id="backoff-max-equals-initial",
    ),
    pytest.param(
        "gallery:\n  redis_url: 'redis://192.0.2.5:6379/0'\n  namespace: rw2\n",
        lambda c: (c.gallery.redis_url, c.gallery.namespace),
        ("redis://192.0.2.5:6379/0", "rw2"),
        id="gallery-redis-url",
    ),
    pytest.param(
        "gallery:\n  data_dir: state\n",
        lambda c: c.gallery.data_dir,
        lambda base: base / "state",
        id="gallery-data-dir-relative",
    ),
    pytest.param(
        "cameras:\n" + RTSP_CAM + RTSP_CAM_B + "alerts:\n  toll:\n    entry_cameras: [cam-a]\n"
        "    gate_cameras: [cam-b]\n    exit_cameras: [cam-a]\n    max_delay_s: 120\n",
        lambda c: (c.alerts.toll.entry_cameras, c.alerts.toll.gate_cameras, c.alerts.toll.max_delay_s),
        (("cam-a",), ("cam-b",), 120.0),
        id="toll-rule-known-cameras",
    ),
    pytest.param(
        "alerts:\n  webhooks:\n    - {url: 'https://hooks.example.org/rw', retries: 0}\n",
        lambda c: (c.alerts.webhooks[0].url, c.alerts.webhooks[0].retries),
        ("https://hooks.example.org/rw", 0),
        id="https-webhook",
    ),
    pytest.param(
        "api: {enabled: true, port: 65535}\n",
        lambda c: (c.api.enabled, c.api.port),
        (True, 65535),
        id="api-port-max",
    ),
]


@pytest.mark.parametrize(("text", "read", "expected"), GOOD)
def test_good_config_loads(
    tmp_path: Path, text: str, read: Callable[[RoadwatchConfig], Any], expected: Any
) -> None:
    path = _write(tmp_path, text)
    config = load_config(path)
    want = expected(path.parent) if callable(expected) else expected
    assert read(config) == want


def test_defaults_of_an_empty_config() -> None:
    config = validate_config({})
    assert config.cameras == ()
    assert config.streams.rtsp_transport == "tcp"
    assert config.gallery.redis_url is None
    assert config.gallery.password is None
    assert config.alerts.watchlist == ()
    assert config.alerts.webhooks == ()
    assert config.api.enabled is False


def test_validate_config_without_base_dir_keeps_relative_paths() -> None:
    config = validate_config({"cameras": [{"id": "a", "kind": "folder", "path": "frames"}]})
    assert config.cameras[0].path == Path("frames")


def test_load_config_accepts_str_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "cameras:\n" + RTSP_CAM)
    assert load_config(str(path)).cameras[0].id == "cam-a"


def test_camera_defaults() -> None:
    camera = validate_config({"cameras": [{"id": "a", "kind": "rtsp", "url": "rtsp://h/s"}]}).cameras[0]
    assert (camera.fps_cap, camera.roi, camera.enabled, camera.queue_size) == (None, None, True, 8)
    assert (camera.reconnect.initial_s, camera.reconnect.max_s, camera.reconnect.multiplier) == (
        0.5,
        30.0,
        2.0,
    )


# --- bad configs ----------------------------------------------------------------------------------

# (yaml text, a substring the error lines must contain: field path, what is wrong, the bad value)
BAD: list[Any] = [
    pytest.param("bogus: 1\n", "bogus: unknown key", id="unknown-top-level-key"),
    pytest.param("camera: []\n", "camera: unknown key (did you mean 'cameras'?)", id="misspelt-top-level"),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', urll: x}\n",
        "cameras[0].urll: unknown key",
        id="unknown-camera-key",
    ),
    pytest.param(
        "cameras:\n" + RTSP_CAM + "  - {id: cam-b, kind: rtsp, url: 'rtsp://h/s', colour: red}\n",
        "cameras[1].colour: unknown key",
        id="unknown-key-second-camera",
    ),
    pytest.param("api: {prot: 80}\n", "api.prot: unknown key (did you mean 'port'?)", id="unknown-api-key"),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', fps_cap: fast}\n",
        "cameras[0].fps_cap: Input should be a valid number",
        id="fps-cap-not-a-number",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', fps_cap: fast}\n",
        "(got 'fast')",
        id="fps-cap-bad-value-shown",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', fps_cap: -1}\n",
        "cameras[0].fps_cap: Input should be greater than 0 (got -1)",
        id="negative-fps-cap",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', fps_cap: 0}\n",
        "cameras[0].fps_cap: Input should be greater than 0 (got 0)",
        id="zero-fps-cap",
    ),
    pytest.param("cameras: {id: a}\n", "cameras: should be a list (got a dict)", id="cameras-not-a-list"),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: webcam, url: 'rtsp://h/s'}\n",
        "cameras[0].kind: Input should be 'rtsp', 'http', 'file', 'folder' or 'synthetic' (got 'webcam')",
        id="unknown-camera-kind",
    ),
    pytest.param(
        "cameras:\n  - {kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: required field is missing",
        id="camera-without-id",
    ),
    pytest.param(
        "cameras:\n" + RTSP_CAM + RTSP_CAM_B + RTSP_CAM,
        "cameras[2].id: duplicate camera id 'cam-a' (also cameras[0])",
        id="duplicate-camera-id-third",
    ),
    pytest.param(
        "cameras:\n" + RTSP_CAM + RTSP_CAM,
        "cameras[1].id: duplicate camera id 'cam-a' (also cameras[0])",
        id="duplicate-camera-id",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp}\n",
        "cameras[0].url: required for a camera of kind 'rtsp'",
        id="rtsp-without-url",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: folder}\n",
        "cameras[0].path: required for a camera of kind 'folder'",
        id="folder-without-path",
    ),
    pytest.param(
        "cameras:\n  - {id: clip, kind: file, url: 'rtsp://h/s'}\n",
        "cameras[0].url: not used by a camera of kind 'file' (use 'path')",
        id="file-camera-with-url",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', path: x.mp4}\n",
        "cameras[0].path: not used by a camera of kind 'rtsp' (use 'url')",
        id="rtsp-camera-with-path",
    ),
    pytest.param(
        "cameras:\n" + RTSP_CAM + RTSP_CAM_B + "  - {id: cam-c, kind: rtsp, url: 'http://192.0.2.3/s'}\n",
        "cameras[2].url: scheme must be one of rtsp, rtsps (got 'http://192.0.2.3/s')",
        id="http-url-on-rtsp-camera",
    ),
    pytest.param(
        "cameras:\n  - {id: web, kind: http, url: 'rtsp://192.0.2.3/s'}\n",
        "cameras[0].url: scheme must be one of http, https",
        id="rtsp-url-on-http-camera",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: '192.0.2.3/s'}\n",
        "cameras[0].url: scheme must be one of rtsp, rtsps",
        id="url-without-scheme",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://192.0.2.3:99999/s'}\n",
        "cameras[0].url: port must be a number from 1 to 65535",
        id="url-port-99999",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://192.0.2.3:0/s'}\n",
        "cameras[0].url: port must be a number from 1 to 65535",
        id="url-port-0",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp:///s'}\n",
        "cameras[0].url: has no host",
        id="url-without-host",
    ),
    pytest.param(
        "cameras:\n  - {id: cam 1, kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: must be 1-64 characters of letters, digits, '_', '.', '-' (got 'cam 1')",
        id="camera-id-with-space",
    ),
    pytest.param(
        "cameras:\n  - {id: 'cam/1', kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: must be 1-64 characters",
        id="camera-id-with-slash",
    ),
    pytest.param(
        "cameras:\n  - {id: '-cam', kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: must be 1-64 characters",
        id="camera-id-leading-dash",
    ),
    pytest.param(
        "cameras:\n  - {id: '', kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: must be 1-64 characters",
        id="camera-id-empty",
    ),
    pytest.param(
        "cameras:\n  - {id: " + "a" * 65 + ", kind: rtsp, url: 'rtsp://h/s'}\n",
        "cameras[0].id: must be 1-64 characters",
        id="camera-id-65-chars",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', roi: [[0, 0], [1, 1]]}\n",
        "cameras[0].roi: a polygon needs at least 3 points, not 2",
        id="roi-two-points",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', roi: [[0, 0], [1.5, 0], [1, 1]]}\n",
        "cameras[0].roi[1][0]: Input should be less than or equal to 1 (got 1.5)",
        id="roi-point-above-1",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', roi: [[0, 0], [1, 0], [1, -0.1]]}\n",
        "cameras[0].roi[2][1]: Input should be greater than or equal to 0 (got -0.1)",
        id="roi-point-below-0",
    ),
    pytest.param(
        "gallery: {fusion_threshold: 1.5}\n",
        "gallery.fusion_threshold: Input should be less than or equal to 1 (got 1.5)",
        id="fusion-threshold-above-1",
    ),
    pytest.param(
        "gallery: {plate_threshold: 2}\n",
        "gallery.plate_threshold: Input should be less than or equal to 1 (got 2)",
        id="plate-threshold-above-1",
    ),
    pytest.param(
        "detectors:\n  vehicle: {score_threshold: 1.01}\n",
        "detectors.vehicle.score_threshold: Input should be less than or equal to 1 (got 1.01)",
        id="score-threshold-above-1",
    ),
    pytest.param(
        "detectors:\n  proposals: 0\n",
        "detectors.proposals: Input should be greater than or equal to 1 (got 0)",
        id="no-proposals",
    ),
    pytest.param(
        "detectors:\n  plate: {second_pass_proposals: many}\n",
        "detectors.plate.second_pass_proposals: Input should be a valid integer",
        id="second-pass-proposals-not-a-number",
    ),
    pytest.param(
        "cameras:\n  - {id: cam-a, kind: rtsp, url: 'rtsp://h/s', reconnect: {initial_s: 2, max_s: 1}}\n",
        "cameras[0].reconnect.max_s: must be >= initial_s (2.0) (got 1)",
        id="backoff-max-below-initial",
    ),
    pytest.param(
        "cameras:\n"
        + RTSP_CAM
        + RTSP_CAM_B
        + "alerts:\n  toll: {entry_cameras: [cam-a], gate_cameras: [cam-z], exit_cameras: [cam-b]}\n",
        "alerts.toll.gate_cameras[0]: unknown camera id 'cam-z'",
        id="toll-unknown-gate-camera",
    ),
    pytest.param(
        "cameras:\n"
        + RTSP_CAM
        + RTSP_CAM_B
        + "alerts:\n  toll: {entry_cameras: [cam-a, nope], gate_cameras: [cam-b], exit_cameras: [cam-a]}\n",
        "alerts.toll.entry_cameras[1]: unknown camera id 'nope'",
        id="toll-unknown-entry-camera",
    ),
    pytest.param(
        "cameras:\n"
        + RTSP_CAM
        + "alerts:\n  toll: {entry_cameras: [], gate_cameras: [cam-a], exit_cameras: [cam-a]}\n",
        "alerts.toll.entry_cameras: needs at least 1 item(s), got 0",
        id="toll-no-entry-cameras",
    ),
    pytest.param(
        "alerts:\n  watchlist:\n    - {plate: AB123CD}\n    - {plate_regex: 'AB[0-9', note: bad}\n",
        "alerts.watchlist[1].plate_regex: invalid regular expression: unterminated character set at "
        "position 2 (got 'AB[0-9')",
        id="watchlist-invalid-regex",
    ),
    pytest.param(
        "alerts:\n  watchlist:\n    - {plate: AB123CD, colour: red}\n",
        "alerts.watchlist[0]: give exactly one of plate, plate_regex, plate_fuzzy, identity, vehicle_type, "
        "colour (got 2)",
        id="watchlist-two-matches",
    ),
    pytest.param(
        "cameras:\n"
        + RTSP_CAM
        + RTSP_CAM_B
        + "alerts:\n  toll: {entry_cameras: [cam-a], gate_cameras: [cam-a], exit_cameras: [cam-b]}\n",
        "alerts.toll.entry_cameras[0]: 'cam-a' is also a gate camera",
        id="toll-entry-is-gate",
    ),
    pytest.param(
        "alerts:\n  webhooks:\n    - {url: 'https://ok.example.org/a'}\n    - {url: 'ftp://192.0.2.9/alerts'}\n",
        "alerts.webhooks[1].url: must be an http:// or https:// URL with a host (got 'ftp://192.0.2.9/alerts')",
        id="webhook-ftp-url",
    ),
    pytest.param(
        "gallery: {redis_url: 'http://192.0.2.5:6379'}\n",
        "gallery.redis_url: scheme must be redis://, rediss:// or unix://",
        id="gallery-url-wrong-scheme",
    ),
    pytest.param(
        "gallery: {namespace: Bad-NS}\n",
        "gallery.namespace: String should match pattern",
        id="gallery-namespace-pattern",
    ),
    pytest.param(
        "cameras: [{id: a, kind: rtsp, url: 'rtsp://h/s', pace: live}]\n",
        "cameras[0].pace: 'live' is for file cameras, not a camera of kind 'rtsp'",
        id="live-pace-on-a-stream",
    ),
    pytest.param(
        "cameras: [{id: a, kind: rtsp, url: 'rtsp://h/s', loop: true}]\n",
        "cameras[0].loop: only file cameras loop, not a camera of kind 'rtsp'",
        id="loop-on-a-stream",
    ),
    pytest.param(
        "api: {port: -1}\n",
        "api.port: Input should be greater than or equal to 0 (got -1)",
        id="api-port-negative",
    ),
    pytest.param(
        "api: {port: 65536}\n",
        "api.port: Input should be less than or equal to 65535 (got 65536)",
        id="api-port-65536",
    ),
    pytest.param(
        "streams: {rtsp_transport: http}\n",
        "streams.rtsp_transport: Input should be 'tcp' or 'udp' (got 'http')",
        id="rtsp-transport-literal",
    ),
    pytest.param(
        "gallery: redis\n", "gallery: Input should be a valid dictionary", id="section-not-a-mapping"
    ),
    pytest.param(
        "reid: {vehicle_net: {depths: [1, 2], widths: [8]}}\n",
        "reid.vehicle_net.widths: needs one width per stage: 2 depths given",
        id="reid-net-widths-per-stage",
    ),
    pytest.param(
        "reid: {plate_net: {stem_stride: 3}}\n",
        "reid.plate_net.stem_stride: Input should be 1, 2 or 4",
        id="reid-net-stem-stride",
    ),
    pytest.param(
        "reid: {train: {precision: fp16}}\n",
        "reid.train.precision: Input should be 'auto', 'bf16' or 'fp32'",
        id="reid-train-precision",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_config_names_field_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    error = _load_error(tmp_path, text)
    assert any(expected in line for line in error.problems), error.problems
    # Every line of the message starts with the file it is about.
    for line in str(error).splitlines():
        assert line.startswith(str(tmp_path / "site" / "roadwatch.yaml") + ": "), line


def test_single_problem_gives_single_line(tmp_path: Path) -> None:
    error = _load_error(tmp_path, "api: {port: -1}\n")
    assert error.problems == ["api.port: Input should be greater than or equal to 0 (got -1)"]
    assert error.source == str(tmp_path / "site" / "roadwatch.yaml")


def test_several_problems_give_several_lines(tmp_path: Path) -> None:
    text = (
        "cameras:\n"
        "  - {id: 'bad id', kind: rtsp, url: 'rtsp://h/s'}\n"
        "  - {id: cam-b, kind: rtsp, url: 'rtsp://h/s', fps_cap: -3}\n"
        "api: {port: -1}\n"
        "bogus: true\n"
    )
    error = _load_error(tmp_path, text)
    assert len(error.problems) == 4, error.problems
    prefixes = sorted(line.split(":", 1)[0] for line in error.problems)
    assert prefixes == ["api.port", "bogus", "cameras[0].id", "cameras[1].fps_cap"]
    assert len(str(error).splitlines()) == 4


# (how to make the unusable file from tmp_path, a substring of its one problem line)
FILE_PROBLEMS: list[Any] = [
    pytest.param(lambda p: p / "missing.yaml", "no such file", id="missing-file"),
    pytest.param(lambda p: p, "not a file", id="directory"),
    pytest.param(
        lambda p: _write(p, "- a\n- b\n"), "top level must be a mapping of sections, got list", id="list"
    ),
    pytest.param(
        lambda p: _write(p, "42\n"), "top level must be a mapping of sections, got int", id="scalar"
    ),
    pytest.param(
        lambda p: _write(p, "just some words\n"),
        "top level must be a mapping of sections, got str",
        id="plain-text",
    ),
    pytest.param(
        lambda p: _write(p, "api:\n  port: 1\n  host: a: b\n"),
        "not valid YAML: line 3, column 10: mapping values are not allowed here",
        id="yaml-mapping-in-scalar",
    ),
    pytest.param(
        lambda p: _write(p, "api:\n  port: [1\n"),
        "not valid YAML: line 3",
        id="yaml-unclosed-bracket",
    ),
    pytest.param(
        lambda p: _write(p, "api:\n  port: 1\napi:\n  port: 2\n"),
        "not valid YAML: line 3, column 1: duplicate key 'api'",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        lambda p: _write(p, "cameras:\n  - {id: a, kind: rtsp, url: 'rtsp://u:p@[::1'}\n"),
        "cameras[0].url: not a valid URL",
        id="malformed-ipv6-url",
    ),
    pytest.param(
        lambda p: _write(p, "a: 1\n\tb: 2\n"),
        "not valid YAML: line 2, column 1",
        id="yaml-tab",
    ),
]


@pytest.mark.parametrize(("make", "expected"), FILE_PROBLEMS)
def test_unusable_file(tmp_path: Path, make: Callable[[Path], Path], expected: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    assert expected in info.value.problems[0]
    assert str(info.value).startswith(f"{path}: ")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"api: {host: 'caf\xe9'}\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)


@pytest.mark.parametrize("data", [[], "cameras", 3, None])
def test_validate_config_rejects_non_mapping(data: Any) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping of sections") as info:
        validate_config(data, source="inline")
    assert str(info.value).startswith("inline: ")


# --- secrets never printed ------------------------------------------------------------------------

SECRET_LEAKS: list[Any] = [
    pytest.param(f"gallery: {{password: [{PASSWORD}]}}\n", PASSWORD, "gallery.password", id="password-list"),
    pytest.param(
        f"gallery: {{password: {{value: {PASSWORD}}}}}\n", PASSWORD, "gallery.password", id="password-dict"
    ),
    pytest.param("gallery: {password: 917364528}\n", "917364528", "gallery.password", id="password-int"),
    pytest.param(f"api: {{token: [{TOKEN}]}}\n", TOKEN, "api.token", id="token-list"),
    pytest.param(
        f"cameras:\n  - {{id: a, kind: rtsp, url: 'http://admin:{PASSWORD}@192.0.2.1/s'}}\n",
        PASSWORD,
        "cameras[0].url",
        id="url-wrong-scheme",
    ),
    pytest.param(
        f"cameras:\n  - {{id: a, kind: rtsp, url: 'rtsp://admin:{PASSWORD}@192.0.2.1:99999/s'}}\n",
        PASSWORD,
        "cameras[0].url",
        id="url-bad-port",
    ),
    pytest.param(
        f"cameras:\n  - {{id: a, kind: rtsp, url: 'rtsp://admin:{PASSWORD}@'}}\n",
        PASSWORD,
        "cameras[0].url",
        id="url-no-host",
    ),
    pytest.param(
        f"cameras:\n  - {{id: a, kind: file, url: 'rtsp://admin:{PASSWORD}@192.0.2.1/s'}}\n",
        PASSWORD,
        "cameras[0].url",
        id="url-on-file-camera",
    ),
    pytest.param(
        f"alerts:\n  webhooks:\n    - {{url: 'ftp://bot:{PASSWORD}@192.0.2.9/in'}}\n",
        PASSWORD,
        "alerts.webhooks[0].url",
        id="webhook-url",
    ),
    pytest.param(
        f"gallery: {{redis_url: 'http://:{PASSWORD}@192.0.2.5:6379'}}\n",
        PASSWORD,
        "gallery.redis_url",
        id="redis-url",
    ),
]


@pytest.mark.parametrize(("text", "secret", "field_path"), SECRET_LEAKS)
def test_secrets_never_in_error_text(tmp_path: Path, text: str, secret: str, field_path: str) -> None:
    error = _load_error(tmp_path, text)
    assert any(line.startswith(f"{field_path}: ") for line in error.problems), error.problems
    assert "***" in str(error)
    assert secret not in str(error)
    assert secret not in repr(error)
    assert all(secret not in line for line in error.problems)


def test_valid_password_not_in_repr(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, f"gallery: {{password: {PASSWORD}}}\napi: {{token: {TOKEN}}}\n"))
    assert config.gallery.password is not None
    assert config.gallery.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(config)
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config.api)


# --- frozen ---------------------------------------------------------------------------------------


def test_loaded_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "cameras:\n" + RTSP_CAM))
    with pytest.raises(ValidationError, match="frozen"):
        config.api.port = 9000  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.cameras[0].fps_cap = 5.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.cameras[0].reconnect.max_s = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.gallery = config.gallery  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.cameras.append(config.cameras[0])  # type: ignore[attr-defined]
    assert config.api.port == 8080
    assert config.cameras[0].fps_cap is None


# --- every field described ------------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Model classes inside ``X``, ``X | None``, ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _walk_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, info in model.model_fields.items():
        yield prefix + name, info
        for inner in _models_in(info.annotation):
            yield from _walk_fields(inner, f"{prefix}{name}.")


def test_every_field_has_a_description() -> None:
    fields = dict(_walk_fields(RoadwatchConfig))
    # The walk must reach the nested sections, or this test would pass by looking at nothing.
    for deep in ("cameras.reconnect.jitter", "alerts.toll.gate_cameras", "gallery.tls.ca_file", "api.port"):
        assert deep in fields
    assert len(fields) > 60
    missing = sorted(path for path, info in fields.items() if not (info.description or "").strip())
    assert missing == [], f"fields without a description: {missing}"


# --- shipped examples -----------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 2, f"expected at least 2 example configs in config/examples, got {EXAMPLES}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_loads(path: Path) -> None:
    config = load_config(path)
    # Relative paths in an example are taken relative to the example's own folder.
    assert config.outputs.events_path.is_absolute()


def test_default_paths_of_omitted_sections_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.yaml"
    path.parent.mkdir()
    path.write_text("cameras: []\n")
    config = load_config(path)
    assert config.outputs.events_path == path.parent / "events.jsonl"
    assert config.gallery.data_dir == path.parent / "var"
