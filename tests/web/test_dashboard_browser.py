"""The dashboard in a real headless Chromium (Debian's, via Playwright) against a real
`data4r2 serve` subprocess, the fake Hub and SeaweedFS: what an operator does with it."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakehub import FakeHub
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from servers.r2_fixtures import open_double
from servers.seaweed import SeaweedServer

from tests.e2e.conftest import PART
from tests.service.conftest import TOKEN, Service, configured, started_hub

# Debian's package (`apt-get install chromium`, done by .ci/run): Playwright's own browser
# downloads are impossible here, so it is launched by path.
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
WAIT_MS = 30_000  # longest a page may take to show a state (a sync of these repos takes ~2 s)
SLOW_FILE = "data/train/part-00000.parquet"  # 2 parts + 1 byte; stalled after its first
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with started_hub() as h:
        yield h


@pytest.fixture(scope="module")
def server(
    hub: FakeHub, seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One server for the module (a start costs seconds): 2 workers, one retry per job, so a
    job failing every attempt is dead-lettered quickly."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with (
        open_double(seaweed) as r2,
        configured(hub, r2, seaweed.create_bucket(), tmp) as svc,
    ):
        yield svc.start("--workers", "2", env={"DATA4R2_MAX_RETRIES": "1"})


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as pw:
        yield _launch(pw)


def _launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=str(CHROMIUM))


class Shots:
    """Screenshots of each page in the test's folder, for a person to look at."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, page: Page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path)


@pytest.fixture
def context(browser: Browser, server: Service) -> Iterator[BrowserContext]:
    """A fresh browser profile whose every request is recorded: the dashboard must not
    reach any host but the server (no CDN, no fonts, not even the Hub it links to)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    ctx.on("request", lambda request: requested.append(request.url))
    # Script errors and Content-Security-Policy violations are reported to the console.
    errors: list[str] = []
    ctx.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    yield ctx
    ctx.close()
    foreign = [url for url in requested if not url.startswith(server.url + "/")]
    assert requested and not foreign, foreign
    # A wrong token (401) and an invalid form (422) are answered with that status on purpose.
    expected = re.compile(r"^Failed to load resource: .* status of (401|422) ")
    assert not [e for e in errors if not expected.match(e)], errors


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, server: Service) -> None:
    page.goto(f"{server.url}/ui")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Syncs")).to_be_visible()


def submit(server: Service, repo: str, **extra: object) -> int:
    r = server.http().post("/v1/syncs", json={"repo_id": repo, **extra})
    assert r.status_code == 202, r.text
    return int(r.json()["sync_id"])


def test_sign_in_with_a_wrong_then_the_right_token(
    page: Page, context: BrowserContext, server: Service, shots: Shots
) -> None:
    page.goto(f"{server.url}/ui")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    token = page.get_by_label("API token")
    expect(token).to_have_attribute("type", "password")
    expect(token).to_be_focused()  # the keyboard user types at once
    page.keyboard.type("not-the-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(re.compile("Wrong token"))
    shots(page, "login-wrong-token")

    page.get_by_label("API token").fill(TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Syncs")).to_be_visible()
    shots(page, "syncs-empty")
    [cookie] = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"] and TOKEN not in page.content()
    assert TOKEN not in page.url

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("Signed out.")
    page.goto(f"{server.url}/ui/new")
    expect(page).to_have_url(re.compile(r"/ui/login$"))  # the session is gone


def test_start_a_sync_from_the_form_and_watch_it_reach_100_percent(
    page: Page, server: Service, shots: Shots
) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="New sync").first.click()
    page.get_by_label("Repo id").fill("acme/no..such")
    page.get_by_role("button", name="Start sync").click()
    api = server.http().post("/v1/syncs", json={"repo_id": "acme/no..such"}).json()
    expect(page.get_by_role("alert")).to_have_text(api["message"])  # the API's very words
    expect(page.get_by_label("Repo id")).to_have_value("acme/no..such")  # kept for fixing
    shots(page, "new-sync-invalid")

    page.get_by_label("Repo id").fill("acme/tiny-model")
    page.get_by_label("Type").select_option("model")
    page.get_by_label("Exclude").fill("docs/*")
    expect(page.get_by_label("Destination", exact=True)).to_have_value("default")
    page.get_by_role("button", name="Start sync").click()
    expect(page.get_by_role("status")).to_have_text("Sync submitted.")
    bar = page.locator(".sync-live .pct")
    expect(bar).to_have_text("100 %")  # updated in place: no reload was asked for
    expect(page.locator("#sync-state")).to_have_text("done")
    expect(page.locator(".progress .detail")).to_contain_text("6 of 6 files")
    shots(page, "sync-done")

    page.get_by_role("link", name="Syncs").first.click()
    row = page.locator("tr", has=page.get_by_role("link", name="acme/tiny-model")).first
    expect(row).to_contain_text("done")
    expect(row.get_by_role("link", name="acme/tiny-model")).to_have_attribute(
        "href", f"{server.env['HF_ENDPOINT']}/acme/tiny-model"
    )
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No sync matches.")).to_be_visible()
    shots(page, "syncs-list")


def test_a_failing_file_is_listed_with_its_error_and_retry_brings_it_through(
    page: Page, server: Service, hub: FakeHub, shots: Shots
) -> None:
    fault = hub.faults.add(
        kind="corrupt", route="cdn", path_glob="*small.safetensors*", offset=3, count=None
    )
    sync_id = submit(server, "acme/tiny-model", include=["weights/*"], force=True)
    sign_in(page, server)
    page.goto(f"{server.url}/ui/syncs/{sync_id}")
    failed = page.locator("tr.file-failed")
    expect(failed).to_contain_text("weights/small.safetensors")
    expect(failed.locator("td.error")).to_contain_text("sha256")
    expect(page.locator("#sync-state")).to_have_text("failed")
    first_row = page.locator("table.files tbody tr").first
    expect(first_row).to_have_class("file-failed")  # failed files come first
    retry = page.get_by_role("button", name="Retry failed")
    expect(retry).to_be_enabled()
    shots(page, "sync-failed")

    hub.faults.remove(fault)  # the Hub serves the file intact again
    retry.click()
    expect(page.get_by_role("status")).to_have_text("Failed files re-queued.")
    expect(page.locator("#sync-state")).to_have_text("done")
    expect(page.locator("tr.file-failed")).to_have_count(0)
    expect(page.get_by_role("button", name="Retry failed")).to_be_disabled()
    shots(page, "sync-retried")


def test_cancel_a_long_sync_after_confirming(
    page: Page, server: Service, hub: FakeHub, shots: Shots
) -> None:
    # The Hub sends the first part and then nothing: the sync stays running, with one part
    # uploaded, for as long as the test needs (released at the end).
    hub.faults.add(kind="stall", route="cdn", path_glob=f"*{SLOW_FILE}*", after_bytes=PART + 100)
    try:
        sign_in(page, server)
        page.evaluate("window.stillThisPage = true")
        sync_id = submit(server, "acme/tiny-data", repo_type="dataset", include=["data/*"])
        # The open list shows a sync submitted elsewhere, without a reload.
        link = page.get_by_role("link", name=f"Sync {sync_id}", exact=True)
        expect(link).to_be_visible()
        assert page.evaluate("window.stillThisPage") is True
        link.click()
        expect(page.locator("#sync-state")).to_have_text("running")
        # Its first part is uploaded: the bar and the chart move while the file is still
        # being copied, not only when it is finished.
        expect(page.locator(".sync-live .pct")).to_have_text("50 %")
        expect(page.locator("figure.chart figcaption")).to_contain_text("MB/s")
        expect(page.locator("#sync-state")).to_have_text("running")
        running = shots(page, "sync-running")
        if docs := os.environ.get("DATA4R2_DOCS_SCREENSHOT"):  # the README's picture
            shutil.copyfile(running, docs)
        page.get_by_role("link", name="Cancel…").click()
        expect(page.get_by_role("heading", name=f"Cancel sync {sync_id}?")).to_be_visible()
        shots(page, "cancel-confirm")
        page.get_by_role("button", name="Yes, cancel the sync").click()
        expect(page.get_by_role("status")).to_have_text("Sync cancelled.")
        expect(page.locator("#sync-state")).to_have_text("cancelled")
        expect(page.get_by_role("link", name="Cancel…")).to_have_count(0)
        status = server.http().get(f"/v1/syncs/{sync_id}").json()
        assert status["state"] == "cancelled" and status["counts"]["cancelled"] >= 1
    finally:
        hub.faults.release_all()
        hub.faults.clear()


def test_phone_width_reads_as_cards(browser: Browser, server: Service, shots: Shots) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page = phone.new_page()
        sign_in(page, server)
        row = page.locator("table.syncs tbody tr").first
        expect(row).to_be_visible()
        for name, path in [("syncs-phone", "/ui"), ("sync-phone", "/ui/syncs/1")]:
            page.goto(server.url + path)
            shots(page, name)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width} px)"
    finally:
        phone.close()
