"""The dashboard in-process (FastAPI's TestClient, an in-memory store): sign-in, sessions,
CSRF and the headers that keep a page from loading or running anything foreign. The same
pages in a real browser against a real server: tests/web/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data4r2.app import Overrides, service_context
from data4r2.domain import JobState, PlannedFile, RemoteFile, RepoRef, Snapshot
from data4r2.service.app import create_app
from data4r2.service.destinations import load_destinations
from data4r2.service.web.session import COOKIE, Sessions
from data4r2.service.web.throughput import Throughput
from data4r2.settings import load_settings
from data4r2.state.memory import MemoryJobStore

TOKEN = "web-" + "k" * 40


class Dashboard:
    def __init__(self, client: TestClient, store: MemoryJobStore, dest_id: str) -> None:
        self.client, self.store, self.dest_id = client, store, dest_id

    def add_sync(self, *states: JobState, error: str = "boom") -> int:
        files = [
            PlannedFile(RemoteFile(f"f{i}.bin", 1000, "0" * 40), f"k/f{i}.bin", False)
            for i in range(len(states))
        ]
        snapshot = Snapshot(RepoRef("acme/m"), "c" * 40, tuple(f.file for f in files))
        sync_id = self.store.create_sync(snapshot, self.dest_id, files)
        for state in states:
            lease = self.store.claim("w", sync_id=sync_id)
            assert lease is not None
            if state is JobState.FAILED:
                self.store.fail(lease, error, retry_in=None)
            elif state is JobState.DONE:
                self.store.finish(lease)
        return sync_id

    def sign_in(self) -> None:
        r = self.client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui"

    def csrf(self, page: str) -> str:
        html = self.client.get(page).text
        return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def dashboard(tmp_path: Path, token: str | None) -> Iterator[Dashboard]:
    settings = load_settings(state=tmp_path / "state.sqlite3")
    named = load_destinations(str(tmp_path / "mirror"), None)
    store = MemoryJobStore()
    with service_context(
        settings, named, api_token=token, emit=lambda e: None, overrides=Overrides(store=store)
    ) as ctx:
        app = create_app(ctx)
        with TestClient(app) as client:  # `with`: runs the lifespan (the sampler) too
            yield Dashboard(client, store, ctx.target("default").id)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Dashboard]:
    yield from dashboard(tmp_path, TOKEN)


@pytest.fixture
def open_web(tmp_path: Path) -> Iterator[Dashboard]:
    """A server without a token (loopback only): no sign-in."""
    yield from dashboard(tmp_path, None)


def test_pages_send_the_browser_to_sign_in(web: Dashboard) -> None:
    for page in ("/ui", "/ui/new", "/ui/syncs/1"):
        r = web.client.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login", page
    # The polled fragments answer 401: the page's script reloads into the sign-in page.
    assert web.client.get("/ui/live/syncs").status_code == 401


def test_a_wrong_token_is_refused_with_a_clear_message(web: Dashboard) -> None:
    r = web.client.post("/ui/login", data={"token": TOKEN + "x"})
    assert r.status_code == 401 and "Wrong token" in r.text
    assert COOKIE not in web.client.cookies
    r = web.client.post("/ui/login", data={"token": "é"})  # not even latin-1 in a header
    assert r.status_code == 401


def test_the_session_cookie_is_strict_httponly_and_holds_no_token(web: Dashboard) -> None:
    r = web.client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert TOKEN not in cookie
    page = web.client.get("/ui")
    assert page.status_code == 200 and TOKEN not in page.text and "Sign out" in page.text


def test_an_expired_session_says_so(web: Dashboard) -> None:
    state = web.client.app.state  # type: ignore[attr-defined]
    state.web_sessions = Sessions(b"k" * 32)
    web.sign_in()
    state.web_sessions = Sessions(b"k" * 32, lifetime=-1)  # the same key, 12 h later
    r = web.client.get("/ui")
    assert r.url.path == "/ui/login" and "Your session expired" in r.text


def test_a_forged_session_is_refused(web: Dashboard) -> None:
    web.client.cookies.set(COOKIE, Sessions().issue()[1])  # signed with another key
    r = web.client.get("/ui")
    assert r.url.path == "/ui/login" and "no longer valid" in r.text


def test_a_post_without_the_forms_csrf_value_changes_nothing(web: Dashboard) -> None:
    web.sign_in()
    sync_id = web.add_sync(JobState.FAILED)
    for action in ("retry", "cancel"):
        r = web.client.post(f"/ui/syncs/{sync_id}/{action}", data={"csrf": "guess"})
        assert r.status_code == 403 and "Stale form" in r.text
    assert web.store.counts(sync_id)[JobState.FAILED] == 1
    csrf = web.csrf(f"/ui/syncs/{sync_id}")
    r = web.client.post(f"/ui/syncs/{sync_id}/retry", data={"csrf": csrf})
    assert "Failed files re-queued." in r.text
    assert web.store.counts(sync_id)[JobState.PENDING] == 1


def live_url(html: str) -> str:
    return html.split('data-live="', 1)[1].split('"', 1)[0].replace("&amp;", "&")


@pytest.mark.parametrize("query", ["", "?state=failed", "?q=acme&cursor=99"])
def test_the_list_polls_a_fragment_that_answers(web: Dashboard, query: str) -> None:
    web.sign_in()
    web.add_sync(JobState.FAILED)
    url = live_url(web.client.get("/ui" + query).text)
    r = web.client.get(url)
    assert r.status_code == 200, (url, r.text)
    assert 'data-sync="1"' in r.text and "<html" not in r.text  # the rows, not a page


def test_a_sync_page_polls_its_own_fragment(web: Dashboard) -> None:
    web.sign_in()
    sync_id = web.add_sync(JobState.DONE)
    r = web.client.get(live_url(web.client.get(f"/ui/syncs/{sync_id}").text))
    assert r.status_code == 200 and 'data-ended="true"' in r.text


def test_sign_out_ends_the_session(web: Dashboard) -> None:
    web.sign_in()
    r = web.client.post("/ui/logout", data={"csrf": web.csrf("/ui")})
    assert r.url.path == "/ui/login" and "Signed out." in r.text
    assert web.client.get("/ui", follow_redirects=False).status_code == 303


def test_pages_forbid_foreign_scripts_styles_and_frames(web: Dashboard) -> None:
    web.sign_in()
    headers = web.client.get("/ui").headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in web.client.get("/healthz").headers  # /ui only


def test_text_from_the_hub_or_a_bucket_is_escaped(web: Dashboard) -> None:
    web.sign_in()
    sync_id = web.add_sync(JobState.FAILED, error='<script>alert("x")</script>')
    page = web.client.get(f"/ui/syncs/{sync_id}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_an_unknown_sync_is_an_html_404(web: Dashboard) -> None:
    web.sign_in()
    r = web.client.get("/ui/syncs/999")
    assert r.status_code == 404 and "There is no sync 999." in r.text


def test_without_a_token_the_dashboard_opens_directly(open_web: Dashboard) -> None:
    r = open_web.client.get("/ui")
    assert r.status_code == 200 and "<h1>Syncs</h1>" in r.text
    assert "Sign out" not in r.text  # nothing to sign out of
    assert open_web.client.get("/ui/login").url.path == "/ui"


def test_the_new_sync_form_answers_with_the_apis_message(web: Dashboard) -> None:
    web.sign_in()
    form = {"csrf": web.csrf("/ui/new"), "repo_id": "acme/x", "dest": "elsewhere"}
    page = web.client.post("/ui/new", data=form)
    api = web.client.post(
        "/v1/syncs",
        json={"repo_id": "acme/x", "dest": "elsewhere"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert page.status_code == api.status_code == 422
    assert api.json()["message"] in page.text.replace("&#39;", "'")


def test_the_sampler_draws_a_sync_from_its_start_to_its_end(web: Dashboard) -> None:
    sync_id = web.add_sync(JobState.DONE, JobState.DONE)
    throughput: Throughput = web.client.app.state.web_throughput  # type: ignore[attr-defined]
    throughput.tick()
    throughput.tick()  # ended and sampled: nothing more
    record = web.store.sync(sync_id)
    samples = throughput.samples(sync_id)
    assert [s.bytes_done for s in samples] == [0, 2000]
    assert samples[0].at == record.created_at and samples[-1].at == record.finished_at


def test_progress_counts_the_parts_of_files_still_being_copied(web: Dashboard) -> None:
    from data4r2.domain import PartInfo, UploadRecord
    from data4r2.service.web.in_flight import in_flight_bytes, progress_bytes

    web.sign_in()
    sync_id = web.add_sync(JobState.DONE, JobState.RUNNING)  # two files of 1000 bytes
    [running] = web.store.jobs(sync_id, state=JobState.RUNNING)
    web.store.record_upload(web.dest_id, running.key, UploadRecord("u1", 400, "sha"))
    web.store.record_part(web.dest_id, running.key, PartInfo(1, 400, "e1", "c1"))
    record = web.store.sync(sync_id)
    assert record.bytes_done == 1000 and in_flight_bytes(web.store, record) == 400
    assert progress_bytes(web.store, record) == 1400
    page = web.client.get(f"/ui/syncs/{sync_id}").text
    assert "1.4 KB of 2.0 KB" in page and "70 %" in page


def test_a_retried_sync_is_sampled_again(web: Dashboard) -> None:
    sync_id = web.add_sync(JobState.FAILED)
    web.client.get("/ui")  # the end of the failed sync gets stamped
    throughput: Throughput = web.client.app.state.web_throughput  # type: ignore[attr-defined]
    throughput.tick()
    before = len(throughput.samples(sync_id))
    throughput.tick()
    assert len(throughput.samples(sync_id)) == before  # ended: nothing new
    web.store.requeue_failed(sync_id)
    throughput.tick()
    assert len(throughput.samples(sync_id)) == before + 1


def test_samples_of_syncs_past_the_newest_are_forgotten(
    web: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data4r2.service.web import throughput as module

    throughput: Throughput = web.client.app.state.web_throughput  # type: ignore[attr-defined]
    old = web.add_sync(JobState.DONE)
    throughput.tick()
    assert throughput.samples(old)
    monkeypatch.setattr(module, "ACTIVE_SCAN", 1)
    new = web.add_sync(JobState.DONE)
    throughput.tick()
    assert throughput.samples(new) and not throughput.samples(old)
