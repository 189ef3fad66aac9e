"""Signing in with OpenID Connect, for real: `streamlit run` in shared mode with secrets naming a provider served on
this machine (tests/helpers/oidc_provider.py), Chromium clicks "Sign in with ...", goes through Streamlit's
st.login, the provider and the callback, and comes back an editor (the upload is there); it signs out; then someone
whose email is not in oidc_editors signs in and is a viewer."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from helpers.browser import CHROMIUM, OUT, app_server, browser_page, settle
from helpers.oidc_provider import running

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's /usr/bin/chromium (apt install chromium)")

SIGN_IN = "Sign in with Test-idp"


@pytest.fixture(scope="module")
def oidc_server(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    from mmrec_core.ingest import ingest

    home = tmp_path_factory.mktemp("oidc-home")
    ingest(tiny_catalog, home / "stores" / "demo")
    (home / "settings.toml").write_text('mode = "shared"\noidc_provider = "test-idp"\n'
                                        'oidc_editors = ["alice@example.com"]\n')
    with running() as idp:
        auth = {"redirect_uri": "http://127.0.0.1:{port}/oauth2callback", "cookie_secret": secrets.token_hex(32)}
        client = {"client_id": idp.client_id, "client_secret": idp.client_secret,
                  "server_metadata_url": f"{idp.url}/.well-known/openid-configuration"}
        # TOML's basic strings read JSON's; the secrets live in the test's folder, never in the repository's
        (home / "secrets.toml").write_text("[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in auth.items())
                                           + "\n[auth.test-idp]\n"
                                           + "".join(f"{k} = {json.dumps(v)}\n" for k, v in client.items()))
        with app_server(home, flags=("--secrets.files", str(home / "secrets.toml"))) as url:
            yield url, idp, home


def can_upload(pg, url: str) -> bool:
    pg.goto(f"{url}/catalog")
    settle(pg)
    pg.get_by_role("tab", name="Add a catalog").click()
    return pg.locator('[data-testid="stFileUploader"]').filter(has_text="Catalog files").count() > 0


def sign_in(pg, idp, email: str) -> None:
    idp.user = {"sub": email.split("@")[0], "email": email, "email_verified": True, "name": email.split("@")[0]}
    pg.get_by_role("button", name=SIGN_IN).click()  # st.login: Streamlit, the provider, the callback, then home
    pg.get_by_text("Signed in as").wait_for(timeout=60_000)
    settle(pg)


def test_an_editor_signs_in_with_the_provider_uploads_and_signs_out_and_another_email_is_a_viewer(oidc_server,
                                                                                                   tiny_catalog):
    url, idp, home = oidc_server
    with browser_page() as pg:
        assert not can_upload(pg, url)
        sign_in(pg, idp, "alice@example.com")
        assert "alice@example.com" in pg.locator('[data-testid="stSidebar"]').inner_text()
        assert "(editor)" in pg.locator('[data-testid="stSidebar"]').inner_text()
        assert can_upload(pg, url)  # a new page load: Streamlit reads who it is from its signed cookie
        pg.get_by_label("Name of the new store").fill("uploaded")
        upload = pg.locator('[data-testid="stFileUploader"] input[type="file"]')
        upload.set_input_files(str(tiny_catalog / "catalog.csv"))
        pg.get_by_role("button", name="Ingest").click()
        pg.get_by_text("It is now the open store").wait_for(timeout=120_000)
        settle(pg)
        assert (home / "stores" / "uploaded" / "OWNER").read_text().strip() == "alice@example.com"
        assert not pg.locator('[data-testid="stException"]').count()
        pg.screenshot(path=OUT / "oidc-editor.png", full_page=True)
        pg.get_by_role("button", name="Sign out").click()  # st.logout: the cookie goes, a new session
        pg.get_by_role("button", name=SIGN_IN).wait_for(timeout=60_000)
        settle(pg)
        assert not pg.get_by_text("Signed in as").count() and not can_upload(pg, url)

        sign_in(pg, idp, "bob@example.com")
        assert "bob@example.com" in pg.locator('[data-testid="stSidebar"]').inner_text()
        assert "(viewer)" in pg.locator('[data-testid="stSidebar"]').inner_text()
        assert not can_upload(pg, url)
        pg.screenshot(path=OUT / "oidc-viewer.png", full_page=True)
    assert idp.signed_in == ["alice@example.com", "bob@example.com"] and not idp.errors
