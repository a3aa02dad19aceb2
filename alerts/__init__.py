"""Alerts: watchlists, the toll/escape rule, the alert schema and its delivery (webhooks with a
disk spool, MQTT, Redis streams, JSON lines), all off the video path."""
