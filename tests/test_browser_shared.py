"""A shared dashboard in Chromium: an anonymous viewer finds no upload, add, train or delete control; an editor
signs in, uploads a catalog and signs out; a second browser session never sees the editor's controls."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers.browser import CHROMIUM, OUT, app_server, browser_page, settle

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's /usr/bin/chromium (apt install chromium)")


@pytest.fixture(scope="module")
def shared_server(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    from mmrec_core import access
    from mmrec_core.ingest import ingest

    home = tmp_path_factory.mktemp("shared-home")
    ingest(tiny_catalog, home / "stores" / "demo")
    access.save_user(home / "users.toml", "alice", "correct horse", "editor")
    (home / "upload").mkdir()
    shutil.copy(tiny_catalog / "catalog.csv", home / "upload" / "catalog.csv")
    with app_server(home, MMREC_MODE="shared", MMREC_USERS=str(home / "users.toml")) as url:
        yield url, home


def writing_controls(pg) -> int:
    """Upload inputs and the buttons that write, wherever they are on the page."""
    buttons = pg.get_by_role("button", name="Ingest").count() + pg.get_by_role("button", name="Add the items").count()
    buttons += pg.get_by_role("button", name="Train").count() + pg.get_by_role("button", name="Delete").count()
    return buttons + pg.locator('[data-testid="stFileUploader"]').filter(has_text="Catalog files").count()


def test_viewers_cannot_write_and_an_editor_signs_in_uploads_and_out(shared_server):
    url, home = shared_server
    with browser_page() as pg:
        for page in ("catalog", "recommend"):
            pg.goto(f"{url}/{page}")
            settle(pg)
            if page == "catalog":
                pg.get_by_role("tab", name="Add a catalog").click()
            assert writing_controls(pg) == 0, page
            assert not pg.locator('[data-testid="stException"]').count()
        pg.goto(f"{url}/catalog")
        settle(pg)
        pg.get_by_text("Editors: sign in").click()
        pg.get_by_label("User name").fill("alice")
        pg.get_by_role("textbox", name="Password").fill("correct horse")
        pg.get_by_role("button", name="Sign in").click()
        pg.get_by_text("Signed in as").wait_for(timeout=60_000)
        settle(pg)
        pg.get_by_role("tab", name="Add a catalog").click()
        pg.get_by_label("Name of the new store").fill("uploaded")
        pg.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(home / "upload" / "catalog.csv"))
        pg.get_by_role("button", name="Ingest").click()
        pg.get_by_text("It is now the open store").wait_for(timeout=120_000)
        settle(pg)
        assert (home / "stores" / "uploaded" / "CURRENT").is_file()
        assert (home / "stores" / "uploaded" / "OWNER").read_text().strip() == "alice"
        pg.screenshot(path=OUT / "shared-editor.png", full_page=True)
        pg.get_by_role("button", name="Sign out").click()
        settle(pg)
        pg.get_by_role("tab", name="Add a catalog").click()
        assert writing_controls(pg) == 0
    with browser_page() as other:  # another visitor, another session
        other.goto(f"{url}/catalog")
        settle(other)
        other.get_by_role("tab", name="Add a catalog").click()
        assert writing_controls(other) == 0 and not other.get_by_text("Signed in as").count()
        other.screenshot(path=OUT / "shared-viewer.png", full_page=True)


def _request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None) -> tuple[int, dict]:
    """(status, response headers) of one raw HTTP request."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers or {}),
                                    timeout=30) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_raw_requests_find_no_listing_no_way_out_of_static_and_no_upload_without_the_token(shared_server):
    url, home = shared_server
    for path in ("/app/static/", "/app/static/media/", "/app/static/..%2f..%2fREADME.md", "/app/static/../pyproject.toml",
                 "/app/static/media/..%2f..%2f.streamlit%2fconfig.toml", "/app/static/%2e%2e/app.py"):
        assert _request(url + path)[0] in (400, 403, 404), path  # no directory listing, nothing outside static/
    # an upload that does not carry the session's XSRF token is refused before anything is kept
    body = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"catalog.csv\"\r\n\r\nid,title\r\n--x--\r\n"
    put, _ = _request(f"{url}/_stcore/upload_file/any-session/any-file", "PUT",
                      {"Content-Type": "multipart/form-data; boundary=x"}, body)
    assert put == 403, put  # XSRF: refused before the session or the file is even looked up
    assert not any((home / "stores").glob("any*"))
    # another site's page gets no CORS permission to read the dashboard's answers
    _, headers = _request(f"{url}/_stcore/health", headers={"Origin": "https://elsewhere.example"})
    assert headers.get("Access-Control-Allow-Origin") in (None, url), headers
