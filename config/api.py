"""The ``api`` section: the HTTP API and the dashboard (docs/API.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from config.base import Section


class ApiConfig(Section):
    """HTTP API and dashboard (``roadwatch serve``; docs/API.md)."""

    enabled: bool = Field(False, description="Also serve the API and dashboard during `roadwatch run`.")
    host: str = Field("127.0.0.1", min_length=1, description="Bind address (loopback unless you mean it).")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0: any free port (printed at start).")
    token: SecretStr | None = Field(
        None,
        description="Bearer token every endpoint but health and metrics asks for; None: the "
        "environment's ROADWATCH_API_TOKEN, else a random one printed at start.",
    )
    extra_tokens: tuple[SecretStr, ...] = Field(
        (), max_length=64, description="More accepted tokens (one per integration, revoked by removal)."
    )
    max_upload_mb: float = Field(10.0, gt=0, le=100, description="Largest search image accepted.")
    max_image_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=400_000_000,
        description="Largest decoded image in pixels (decompression bombs refused).",
    )
    live_fps: float = Field(4.0, gt=0, le=30, description="Camera tiles' refresh rate on the dashboard.")
    max_stream_clients: int = Field(
        200, ge=1, le=10_000, description="Live event streams served at once (more are refused with 503)."
    )
    log_json: bool = Field(False, description="Log as JSON lines (one object per record) instead of text.")
