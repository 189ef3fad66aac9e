"""A shared dashboard in AppTest: viewers see no writing control and cannot write by a crafted run; editors sign in
(wrong passwords counted and slowed), upload, and sign out; a dashboard refusing anonymous visitors asks first."""

from __future__ import annotations

import re

import pytest

from mmrec_core import access
from tests.test_app import catalog_uploader, home, new_app, ok  # noqa: F401  (fixture and helpers)

CSV = b"id,title,description\nn1,Note one,a short note\nn2,Note two,another note\n"


@pytest.fixture
def shared(home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MMREC_MODE", "shared")
    monkeypatch.setenv("MMREC_USERS", str(home / "users.toml"))
    access.save_user(home / "users.toml", "alice", "correct horse", "editor")
    from pages import _access

    (home / "settings.toml").unlink(missing_ok=True)  # `home` is shared by the module: no test's settings linger
    for cached in (_access.settings, _access.throttle, _access.quota):
        cached.clear()
    yield home
    (home / "settings.toml").unlink(missing_ok=True)
    for cached in (_access.settings, _access.throttle, _access.quota):
        cached.clear()


def catalog(at):
    return at.switch_page("pages/catalog.py").run()


def uploaders(at) -> set[str]:
    """The uploaders' keys, the catalog uploader's round suffix dropped (catalog_files_2 -> catalog_files)."""
    return {re.sub(r"^catalog_files_\d+$", "catalog_files", u.key) for u in at.get("file_uploader")}


def sign_in(at, name: str, password: str):
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(password)
    return next(b for b in at.get("form_submit_button") if b.label == "Sign in").click().run()


def test_a_viewer_sees_no_writing_control_and_the_demo_is_read_only(shared):
    at = catalog(new_app())
    ok(at)
    assert "catalog_files" not in uploaders(at) and "rec_inter" not in uploaders(at)
    assert any("adding catalogs is for editors" in i.value for i in at.info)
    assert not [b for b in at.button if b.key in ("admin_delete", "admin_apply")]
    at.switch_page("pages/recommend.py").run()
    ok(at)
    assert not [b for b in at.button if b.key in ("rec_train", "rec_build_ml")]


def test_an_editor_signs_in_uploads_and_signs_out_and_a_crafted_run_writes_nothing(shared):
    at = catalog(new_app())
    at = sign_in(at, "alice", "wrong password")
    ok(at)
    assert any(e.value == "wrong user name or password" for e in at.error) and at.session_state["user"] is None
    at = sign_in(at, "alice", "correct horse")
    ok(at)
    assert at.session_state["user"].name == "alice" and "catalog_files" in uploaders(at)
    assert any("Signed in as **alice** (editor)" in c.value for c in at.sidebar.caption)
    assert [o for o in at.radio(key="add_target").options] == ["A new store"]  # the demo is read-only when shared
    at.text_input(key="new_store_name").set_value("notes")
    catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
    at = at.form_submit_button[0].click().run()
    ok(at)
    store = shared / "stores" / "notes"
    assert (store / "CURRENT").is_file() and (store / "OWNER").read_text().strip() == "alice"
    at.switch_page("pages/catalog.py").run()
    # the form is still on screen: the session signs out, then its upload message is sent again
    at.text_input(key="new_store_name").set_value("sneaky")
    catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
    at.session_state["user"] = None
    at = at.form_submit_button[0].click().run()
    assert not (shared / "stores" / "sneaky").exists()
    assert "catalog_files" not in uploaders(at)
    at = sign_in(catalog(at), "alice", "correct horse")
    at.button(key="sign-out").click().run()
    assert at.session_state["user"] is None and "catalog_files" not in uploaders(catalog(at))


def test_repeated_wrong_passwords_are_slowed_down(shared):
    at = catalog(new_app())
    for _ in range(access.FREE_TRIES):
        at = sign_in(at, "alice", "nope nope")
    at = sign_in(at, "alice", "correct horse")
    assert any("too many failed logins" in e.value for e in at.error) and at.session_state["user"] is None


def test_anonymous_visitors_can_be_refused(shared, monkeypatch):
    monkeypatch.setenv("MMREC_ANONYMOUS", "refuse")
    at = new_app()
    ok(at)
    assert any("sign in to continue" in i.value for i in at.info) and not at.get("bidi_component")
    at = sign_in(at, "alice", "correct horse")
    ok(at)
    assert at.get("bidi_component")  # the Search page's results


def test_the_per_editor_disk_quota_refuses_the_next_upload_and_keeps_what_is_there(shared, monkeypatch):
    (shared / "settings.toml").write_text("upload_disk_gb_per_editor = 0.0001\n")  # 100 kB
    from pages import _access

    _access.settings.clear()
    at = sign_in(catalog(new_app()), "alice", "correct horse")
    at.text_input(key="new_store_name").set_value("first")
    catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
    at = at.form_submit_button[0].click().run()
    ok(at)
    assert (shared / "stores" / "first" / "CURRENT").is_file()  # under the quota when it started
    at.switch_page("pages/catalog.py").run()
    at.text_input(key="new_store_name").set_value("second")
    catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
    at = at.form_submit_button[0].click().run()
    assert any("alice's uploaded stores take" in e.value and "Delete a store first; nothing was stored" in e.value
               for e in at.error), [e.value for e in at.error]
    assert not (shared / "stores" / "second").exists()
    from mmrec_core.query import Engine, Query
    from mmrec_core.retrieval import Weights
    from mmrec_core.store import open_store

    hits = Engine(open_store(shared / "stores" / "first")).search(Query(text="a short note"), Weights(), k=2)
    assert [h.id for h in hits][0] in ("n1", "n2")  # the store that was there is intact and searchable


def test_an_editor_marks_a_store_read_only_and_deletes_one_after_confirming(shared):
    from mmrec_core.store import is_read_only

    at = sign_in(catalog(new_app()), "alice", "correct horse")
    for name in ("keep", "drop"):
        at.switch_page("pages/catalog.py").run()
        at.text_input(key="new_store_name").set_value(name)
        catalog_uploader(at).set_value([("catalog.csv", CSV, "text/csv")])
        at = at.form_submit_button[0].click().run()
        ok(at)
    at.switch_page("pages/catalog.py").run()
    assert "demo" not in at.selectbox(key="admin_store").options  # the built-in demo is read-only when shared
    at.selectbox(key="admin_store").set_value("keep").run()
    at.selectbox(key="admin_action").set_value("Make read-only").run()
    at.button(key="admin_apply").click().run()
    ok(at)
    marker = (shared / "stores" / "keep" / "READONLY").read_text()
    assert is_read_only(shared / "stores" / "keep") and "alice" in marker and "scrypt" not in marker
    at.selectbox(key="admin_store").set_value("drop").run()
    at.selectbox(key="admin_action").set_value("Delete…").run()
    assert at.button(key="admin_delete").disabled  # not before the box is ticked
    at.checkbox(key="admin_sure_drop").check().run()
    at.button(key="admin_delete").click().run()
    ok(at)
    assert not (shared / "stores" / "drop").exists() and (shared / "stores" / "keep" / "CURRENT").is_file()
