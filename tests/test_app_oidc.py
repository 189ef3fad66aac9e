"""A shared dashboard whose Streamlit secrets name an OpenID Connect provider, in AppTest (which seeds `st.user` the
way Streamlit's cookie would): a listed email is an editor, another a viewer, an unlisted one is refused where
anonymous visitors are, and secrets lacking a key say which. The round trip through a provider is in
test_browser_oidc.py."""

from __future__ import annotations

import copy

import pytest

from tests.test_app import APP, catalog_uploader, home, ok  # noqa: F401  (fixture and helpers)
from tests.test_app_access import CSV, shared, uploaders  # noqa: F401  (fixture and helpers)

SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 64,
                    "client_id": "mmrec", "client_secret": "s3cret",
                    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}


@pytest.fixture
def oidc(shared):  # noqa: F811
    (shared / "settings.toml").write_text('oidc_editors = ["alice@example.com"]\noidc_viewers = ["@example.com"]\n')
    yield shared


def catalog(user: dict, secrets: dict | None = None):
    """The Catalog page for a browser whose identity cookie holds `user` (st.user)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    at.secrets = copy.deepcopy(SECRETS if secrets is None else secrets)
    at.user = user
    at.run()
    return at.switch_page("pages/catalog.py").run()


def signed_in(email: str, **claims) -> dict:
    return {"is_logged_in": True, "email": email, "provider": "default", **claims}


def buttons(at) -> set[str]:
    return {b.label for b in at.button}


def test_a_visitor_is_offered_the_provider_and_the_password(oidc):
    at = catalog({"is_logged_in": False})
    ok(at)
    assert "Sign in with single sign-on" in buttons(at) and "catalog_files" not in uploaders(at)
    assert [e.label for e in at.sidebar.expander] == ["Sign in with a password"]  # the users file is there
    (oidc / "users.toml").unlink()
    at = catalog({"is_logged_in": False})
    assert "Sign in with single sign-on" in buttons(at) and not at.sidebar.expander  # a provider and no users file


def test_a_listed_email_is_an_editor_and_owns_what_it_uploads(oidc):
    at = catalog(signed_in("Alice@example.com", email_verified=True))
    ok(at)
    assert any("Signed in as **alice@example\\.com** (editor)" in c.value for c in at.sidebar.caption)
    assert "catalog_files" in uploaders(at) and "Sign out" in buttons(at) and not at.sidebar.expander
    at.text_input(key="new_store_name").set_value("notes")
    catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
    at = at.form_submit_button[0].click().run()
    ok(at)
    assert (oidc / "stores" / "notes" / "OWNER").read_text().strip() == "alice@example.com"


def test_an_unlisted_or_unverified_email_is_a_viewer(oidc):
    for user in (signed_in("bob@example.com"), signed_in("alice@example.com", email_verified=False)):
        at = catalog(user)
        ok(at)
        assert "catalog_files" not in uploaders(at) and "Sign in with single sign-on" not in buttons(at)
        assert any("(viewer)" in c.value for c in at.sidebar.caption)
        assert [e.label for e in at.sidebar.expander] == ["Sign in with a password"]  # may still become an editor
    at = catalog({"is_logged_in": True, "email": "alice@example.com"}, secrets={})  # no [auth]: the cookie is ignored
    ok(at)
    assert "catalog_files" not in uploaders(at) and [e.label for e in at.sidebar.expander] == ["Editors: sign in"]


def test_where_anonymous_visitors_are_refused_only_listed_identities_come_in(oidc, monkeypatch):
    monkeypatch.setenv("MMREC_ANONYMOUS", "refuse")
    at = catalog(signed_in("mallory@elsewhere.org"))
    ok(at)
    assert any("mallory@elsewhere.org is signed in, but this dashboard lets in only" in w.value for w in at.warning)
    assert "Sign out" in buttons(at) and "Sign in with single sign-on" not in buttons(at)
    assert not at.get("bidi_component") and "catalog_files" not in uploaders(at)
    at = catalog(signed_in("bob@example.com"))
    ok(at)
    assert not at.warning and any("(viewer)" in c.value for c in at.sidebar.caption)


def test_secrets_lacking_a_key_say_which_and_the_password_still_works(oidc):
    broken = copy.deepcopy(SECRETS)
    del broken["auth"]["client_secret"]
    at = catalog({"is_logged_in": False}, secrets=broken)
    ok(at)
    assert any("[auth] in Streamlit's secrets lacks client_secret" in e.value for e in at.sidebar.error)
    assert "Sign in with single sign-on" not in buttons(at)
    assert [e.label for e in at.sidebar.expander] == ["Editors: sign in"]
