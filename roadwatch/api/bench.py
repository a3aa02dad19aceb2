"""``roadwatch bench api``: what the API costs the pipeline, and how fast the dashboard renders.

The demo's toll road runs through the whole pipeline with the API up, alternately with no
live-stream client and with ``clients`` of them (held open by another process,
:mod:`roadwatch.api.loadgen`, so their own work is not counted in the served process; on a
2-core machine they still share its cores, a worst case against clients on other machines).
The frame rates of the two kinds of run give ``slowdown_percent``. Then a headless Chromium
(where installed) opens the dashboard over the results: ``first_render_ms`` is the first
contentful paint, ``tiles_ms`` the time until every camera tile shows a picture.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from config import RoadwatchConfig

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def run_bench(
    base: RoadwatchConfig, folder: Path, *, seconds: float, clients: int, repeats: int, seed: int = 7
) -> dict[str, Any]:
    """Alternate runs without and with ``clients`` stream clients; then the browser's timing."""
    from roadwatch.cli.demo import demo_site

    fps: dict[int, list[float]] = {0: [], clients: []}
    delivered: list[int] = []
    api = None
    for n in range(repeats):
        for count in (0, clients):
            if api is not None:
                api.close()
            site = demo_site(folder, seed, seconds, base, run="bench-api")
            figures, api = _one_run(site.cfg, site.cameras, count)
            fps[count].append(figures["fps"])
            if count:
                delivered.append(figures["events_per_client_min"])
            print(
                f"bench api: run {n + 1}/{repeats}, {count} stream clients: {figures['fps']:.2f} frames/s",
                file=sys.stderr,
            )
    assert api is not None
    try:
        browser = _first_render(api.dashboard_link) if CHROMIUM.exists() and CHROMEDRIVER.exists() else {}
    finally:
        api.close()
    alone, loaded = statistics.mean(fps[0]), statistics.mean(fps[clients])
    return {
        "clients": clients,
        "seconds_of_footage": seconds,
        "repeats": repeats,
        "fps_without_clients": [round(v, 2) for v in fps[0]],
        "fps_with_clients": [round(v, 2) for v in fps[clients]],
        "slowdown_percent": round(100 * (alone - loaded) / alone, 2) if alone else None,
        "events_per_client_min": min(delivered) if delivered else None,
        "first_render_ms": browser.get("first_render_ms"),
        "tiles_ms": browser.get("tiles_ms"),
        "browser": "chromium" if browser else None,
    }


def _one_run(cfg: RoadwatchConfig, cameras: Any, clients: int) -> tuple[dict[str, Any], Any]:
    """One pipeline run with the API up (and left up for the browser) and ``clients`` streams."""
    from roadwatch.cli.common import run_pipeline
    from roadwatch.cli.serve import start_api

    cfg = cfg.model_copy(update={"api": cfg.api.model_copy(update={"port": 0, "host": "127.0.0.1"})})
    api = start_api(cfg, [c.id for c in cameras])
    loadgen = None
    out = Path(tempfile.mkstemp(suffix=".json", prefix="roadwatch-loadgen-")[1])
    try:
        if clients:
            loadgen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "roadwatch.api.loadgen",
                    api.url,
                    api.tokens[0],
                    str(clients),
                    str(out),
                ]
            )
            _wait_for_clients(api, clients)
        summary, _ = run_pipeline(
            cfg, cameras, cfg.outputs.events_path, append=False, json_mode=True, api=api
        )
        figures: dict[str, Any] = {"fps": summary.fps, "events_per_client_min": None}
        if loadgen is not None:
            time.sleep(1.0)  # the last events reach the clients
            loadgen.send_signal(signal.SIGTERM)
            loadgen.wait(30)
            counts = json.loads(out.read_text())
            figures["events_per_client_min"] = min(counts["events"])
    except BaseException:
        api.close()
        raise
    finally:
        if loadgen is not None and loadgen.poll() is None:
            loadgen.kill()
        out.unlink(missing_ok=True)
    return figures, api


def _wait_for_clients(api: Any, clients: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while api.broadcaster.clients < clients:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {api.broadcaster.clients} of {clients} stream clients connected")
        time.sleep(0.1)


def _first_render(link: str) -> dict[str, float]:
    """First contentful paint and time to every tile's picture, in a fresh headless Chromium
    (the median of five loads of the page, its token already in the cookie)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="roadwatch-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1366,768",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    paints, tiles = [], []
    try:
        driver.get(link)  # sets the cookie
        page = link.split("?", 1)[0]
        for _ in range(5):
            driver.get("about:blank")
            started = time.perf_counter()
            driver.get(page)
            while not driver.execute_script(
                "const t = [...document.querySelectorAll('#tiles .tile img')];"
                "return t.length > 0 && t.every(i => i.naturalWidth > 0);"
            ):
                if time.perf_counter() - started > 30:
                    break
                time.sleep(0.01)
            tiles.append(1000 * (time.perf_counter() - started))
            fcp = driver.execute_script(
                "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                "return p ? p.startTime : null;"
            )
            if fcp is not None:
                paints.append(float(fcp))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return {
        "first_render_ms": round(statistics.median(paints), 1) if paints else float("nan"),
        "tiles_ms": round(statistics.median(tiles), 1),
    }
