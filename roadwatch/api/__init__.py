"""The HTTP API, the dashboard and the metrics (docs/API.md)."""
