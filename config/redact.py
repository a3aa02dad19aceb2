"""Keep credentials out of logs, errors and printed configs."""

from __future__ import annotations

import re

MASK = "***"
_SECRET_QUERY = re.compile(
    r"([?&;](?:access_token|token|password|passwd|pass|pwd|key|secret|auth|sig|signature)=)[^&;#]*",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """Return ``url`` with its password (and token-like query values) masked.

    ``rtsp://admin:secret@cam/stream`` becomes ``rtsp://admin:***@cam/stream``; user info
    without a colon may itself be a token and is masked whole (``https://***@host``). The
    credentials are taken to end at the *last* ``@``, so a password holding unescaped ``/``,
    ``#``, ``?`` or ``@`` is still masked (at worst, more than needed is hidden). Strings
    without ``://`` come back unchanged.

    Args:
        url: Any string; only URL-shaped ones are changed.

    Returns:
        The string safe to log.
    """
    start = url.find("://")
    if start < 0:
        return url
    start += 3
    at = url.rfind("@")
    if at >= start:
        user, colon, _ = url[start:at].partition(":")
        userinfo = f"{user}:{MASK}" if colon and user else MASK
        url = url[:start] + userinfo + url[at:]
    return _SECRET_QUERY.sub(rf"\1{MASK}", url)
