"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): it loads, a sighting appears live, an identity's page shows two cameras, a search
by image finds the identity first, and a watchlist entry added in the page raises an alert.
Each test saves a screenshot (``ROADWATCH_SCREENSHOTS``, default ``var/screenshots``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.served import TOKEN, Served, two_camera_identity

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and DRIVER.exists()):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (scripts/dev test installs them)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (after the skip: only where Chromium exists)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SHOTS = Path(os.environ.get("ROADWATCH_SCREENSHOTS", "var/screenshots"))


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,768"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        driver.get(f"{served.url}/?token={TOKEN}")  # the printed link: sets the cookie
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, what: Callable[[WebDriver], Any], seconds: float = 60) -> Any:
    return WebDriverWait(driver, seconds, poll_frequency=0.25).until(what)


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def go(driver: WebDriver, served: Served, route: str) -> None:
    driver.get(f"{served.url}/#{route}")


def texts(driver: WebDriver, css: str) -> list[str]:
    """The text of every element ``css`` selects, read in one script (views re-render as events
    arrive, so elements found one call earlier may be gone)."""
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", css
    )
    return found


def attrs(driver: WebDriver, css: str, name: str) -> list[str]:
    """``data-<name>`` of every element ``css`` selects (in one script, like :func:`texts`)."""
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset[arguments[1]])", css, name
    )
    return found


def feed_ids(driver: WebDriver) -> list[str]:
    """The live feed's sighting ids."""
    return attrs(driver, "#feed .sighting", "id")


def test_without_the_token_the_page_asks_for_it(served: Served) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    try:
        driver.get(served.url + "/")
        assert driver.find_element(By.NAME, "token")
        assert not driver.find_elements(By.ID, "tiles")
    finally:
        driver.quit()


def test_the_page_loads_with_camera_tiles(browser: WebDriver, served: Served) -> None:
    go(browser, served, "/live")
    tile = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '#tiles .tile[data-camera="entry"]'))
    image = tile.find_element(By.TAG_NAME, "img")
    wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", image) > 0)
    assert browser.find_element(By.ID, "feed")
    assert browser.find_element(By.ID, "alerts")


def test_a_sighting_appears_live(browser: WebDriver, served: Served) -> None:
    go(browser, served, "/live")
    wait(browser, lambda d: d.find_element(By.ID, "feed"))
    before = set(feed_ids(browser))
    wait(browser, lambda d: set(feed_ids(d)) - before, 120)
    shot(browser, "live")


def test_the_identity_page_shows_sightings_from_two_cameras(browser: WebDriver, served: Served) -> None:
    identity = two_camera_identity(served)
    go(browser, served, f"/identity/{identity}")
    wait(browser, lambda d: len(set(attrs(d, "#identity .timeline .sighting", "camera"))) >= 2)
    assert str(identity) in browser.find_element(By.ID, "identity").text
    shot(browser, "identity")


def test_a_search_by_image_returns_the_right_identity_first(
    browser: WebDriver, served: Served, tmp_path: Path
) -> None:
    identity = two_camera_identity(served)
    with served.client() as client:
        found = client.get(f"/api/identities/{identity}").json()
        best = max(
            (s for s in found["sightings"] if s["snapshot_urls"].get("vehicle")), key=lambda s: s["quality"]
        )
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(client.get(best["snapshot_urls"]["vehicle"]).content)
    go(browser, served, "/search")
    wait(browser, lambda d: d.find_element(By.ID, "search-file")).send_keys(str(photo))
    first = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#search-results .candidate"), 90)
    assert first.get_attribute("data-identity") == str(identity)
    shot(browser, "search")


def test_a_watchlist_entry_added_in_the_page_raises_an_alert(browser: WebDriver, served: Served) -> None:
    with served.client() as client:
        passing = client.get("/api/sightings", params={"camera": "entry", "limit": 50}).json()["items"]
    vehicle_type = max({s["vehicle_type"] for s in passing}, key=[s["vehicle_type"] for s in passing].count)
    go(browser, served, "/watchlist")
    form = wait(browser, lambda d: d.find_element(By.ID, "watch-form"))
    Select(form.find_element(By.NAME, "match")).select_by_value("vehicle_type")
    form.find_element(By.NAME, "value").send_keys(vehicle_type)
    form.find_element(By.NAME, "note").send_keys("browser test")
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(browser, lambda d: any(vehicle_type in text for text in texts(d, "#watch-table tr[data-id]")))
    shot(browser, "watchlist")
    go(browser, served, "/live")
    wait(
        browser,  # the demo's own watchlist alerts are there already: wait for this entry's
        lambda d: any("browser test" in text for text in texts(d, '#alerts .alert[data-kind="watchlist"]')),
        150,
    )
    shot(browser, "alert")
    with served.client() as client:  # leave the watchlist as it was for the other tests
        for entry in client.get("/api/watchlist").json():
            if entry["note"] == "browser test":
                client.delete(f"/api/watchlist/{entry['id']}")
