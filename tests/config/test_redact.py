"""redact_url: credentials masked, everything else left as it was."""

from __future__ import annotations

import pytest

from config import redact_url
from config.redact import MASK


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("rtsp://admin:secret@cam/stream", "rtsp://admin:***@cam/stream", id="user-and-password"),
        pytest.param(
            "rtsp://admin:secret@192.0.2.10:554/stream1?channel=1#x",
            "rtsp://admin:***@192.0.2.10:554/stream1?channel=1#x",
            id="port-query-fragment-kept",
        ),
        pytest.param("rtsps://viewer:pw@cam:322/live", "rtsps://viewer:***@cam:322/live", id="rtsps"),
        pytest.param("https://u:p@example.org/a.mjpg", "https://u:***@example.org/a.mjpg", id="https"),
        pytest.param("redis://:hunter2@192.0.2.5:6379/0", "redis://***@192.0.2.5:6379/0", id="password-only"),
        # No password to hide: the user name stays, a mask is added (nothing is revealed).
        pytest.param("rtsp://admin@cam/stream", "rtsp://***@cam/stream", id="user-only-may-be-a-token"),
        pytest.param("rtsp://cam:554/stream", "rtsp://cam:554/stream", id="no-credentials"),
        pytest.param(
            "http://192.0.2.12:8080/video.mjpg", "http://192.0.2.12:8080/video.mjpg", id="http-plain"
        ),
        pytest.param("rtsp://admin:p@ss@cam/s", "rtsp://admin:***@cam/s", id="password-with-at"),
        pytest.param("rtsp://admin:pa:ss@cam/s", "rtsp://admin:***@cam/s", id="password-with-colon"),
        pytest.param(
            "rtsp://admin:a@b:c@cam:554/s", "rtsp://admin:***@cam:554/s", id="password-with-at-and-colon"
        ),
        pytest.param("rtsp://admin:p%40ss@cam/s", "rtsp://admin:***@cam/s", id="password-percent-encoded"),
        pytest.param("rtsp://admin:@cam/s", "rtsp://admin:***@cam/s", id="empty-password"),
        pytest.param("not a url", "not a url", id="not-a-url"),
        pytest.param("", "", id="empty-string"),
        pytest.param("/var/frames/cam-1", "/var/frames/cam-1", id="posix-path"),
        pytest.param("frames/a@b.png", "frames/a@b.png", id="relative-path-with-at"),
        pytest.param("user@example.org", "user@example.org", id="email-like"),
        pytest.param("http://[::1", "http://[::1", id="unparseable-url"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:Zq9-secret@cam/s",
        "rtsps://admin:Zq9-secret@cam:322/s",
        "rtsp://admin:Zq9-secret@@cam/s",
        "http://x:Zq9-secret:more@cam/s",
        "redis://:Zq9-secret@localhost",
    ],
)
def test_password_never_survives(url: str) -> None:
    redacted = redact_url(url)
    assert "Zq9-secret" not in redacted
    assert MASK in redacted


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("rtsp://admin:pa/ss@cam:554/s", "rtsp://admin:***@cam:554/s", id="slash-in-password"),
        pytest.param("rtsp://admin:pa#ss@cam/s", "rtsp://admin:***@cam/s", id="hash-in-password"),
        pytest.param("rtsp://admin:pa?ss@cam/s", "rtsp://admin:***@cam/s", id="question-mark-in-password"),
        pytest.param("https://TOKEN123@host/x", "https://***@host/x", id="token-as-user"),
        pytest.param(
            "http://cam/x.mjpg?token=abc&ch=1", "http://cam/x.mjpg?token=***&ch=1", id="query-token"
        ),
        pytest.param(
            "http://cam/x?user=a&password=b", "http://cam/x?user=a&password=***", id="query-password"
        ),
    ],
)
def test_unescaped_or_query_secrets_are_masked(url: str, expected: str) -> None:
    assert redact_url(url) == expected
