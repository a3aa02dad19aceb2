"""Keep credentials out of logs, errors and printed configs."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with any password (and token-like query values) masked.

    ``rtsp://admin:secret@cam/stream`` becomes ``rtsp://admin:***@cam/stream``. Strings that
    are not URLs come back unchanged.

    Args:
        url: Any string; only URL-shaped ones are changed.

    Returns:
        The string safe to log.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{MASK}@{hostport}" if user else f"{MASK}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
