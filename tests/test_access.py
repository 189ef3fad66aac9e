"""Sharing the dashboard: settings (the environment wins), scrypt hashes, login backoff, quotas, read-only stores."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from mmrec_core import access
from mmrec_core.errors import AccessError, ReadOnlyStoreError


def test_settings_come_from_the_file_and_the_environment_wins(tmp_path):
    (tmp_path / "settings.toml").write_text('mode = "shared"\nanonymous = "refuse"\nuploads_per_hour = 3\n')
    env = {"MMREC_HOME": str(tmp_path)}
    s = access.load_settings(env)
    assert (s.mode, s.anonymous, s.uploads_per_hour, s.shared) == ("shared", "refuse", 3, True)
    assert s.users_file == str(tmp_path / "users.toml")
    assert access.load_settings({**env, "MMREC_MODE": "local", "MMREC_ANONYMOUS": "viewer"}).mode == "local"
    assert access.load_settings({"MMREC_HOME": str(tmp_path / "none")}).mode == "local"  # no file: local
    (tmp_path / "settings.toml").write_text('mode = "public"\n')
    with pytest.raises(AccessError, match="mode 'public' must be one of local, shared"):
        access.load_settings(env)
    (tmp_path / "settings.toml").write_text('modes = "shared"\n')
    with pytest.raises(AccessError, match="unknown keys"):
        access.load_settings(env)


def test_passwords_are_kept_as_scrypt_hashes_only(tmp_path):
    users = tmp_path / "users.toml"
    access.save_user(users, "alice", "correct horse", "editor")
    access.save_user(users, "bob", "battery staple", "viewer")
    text = users.read_text()
    assert "correct horse" not in text and "battery staple" not in text and text.count("scrypt$") == 2
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    loaded = access.load_users(users)
    assert loaded["alice"].role == "editor" and access.verify_password("correct horse", loaded["alice"].password_hash)
    assert not access.verify_password("correct horsE", loaded["alice"].password_hash)
    assert not access.verify_password("x", "plain-text")
    with pytest.raises(AccessError, match="at least 8"):
        access.save_user(users, "carol", "short")
    with pytest.raises(AccessError, match="user name"):
        access.save_user(users, "bad name", "long enough")


def test_failed_logins_are_counted_and_slowed_down(tmp_path):
    access.save_user(tmp_path / "u.toml", "alice", "correct horse")
    users = access.load_users(tmp_path / "u.toml")
    now = [0.0]
    throttle = access.LoginThrottle(clock=lambda: now[0])
    for _ in range(access.FREE_TRIES):
        with pytest.raises(AccessError, match="^wrong user name or password$"):
            access.login(users, throttle, "alice", "guess", client="c1")
    with pytest.raises(AccessError, match="too many failed logins: try again in 2 s"):
        access.login(users, throttle, "alice", "correct horse", client="c2")  # the name is throttled, any client
    with pytest.raises(AccessError, match="^wrong user name or password$"):
        access.login(users, throttle, "mallory", "guess", client="c3")  # an unknown name reads the same
    now[0] += 2.5
    assert access.login(users, throttle, "alice", "correct horse", client="c2").name == "alice"
    assert throttle.total == access.FREE_TRIES + 1 and throttle.wait_left("user:alice") == 0


def test_uploads_per_hour_and_disk_quotas():
    now = [0.0]
    quota = access.UploadQuota(2, clock=lambda: now[0])
    quota.take("s1")
    quota.take("s1")
    quota.take("s2")
    with pytest.raises(AccessError, match="uploaded 2 catalogs in the last hour .* try again in 60 min"):
        quota.take("s1")
    now[0] += 3601
    quota.take("s1")
    access.check_disk(1.0, 0.5, 2.0, whose="alice's")
    with pytest.raises(AccessError, match="alice's uploaded stores take 1.80 GB; 0.50 GB more would pass the limit of 2 GB"):
        access.check_disk(1.8, 0.5, 2.0, whose="alice's")


def test_a_read_only_store_refuses_add_and_remove_until_forced(tmp_path, tiny_catalog):
    from mmrec_core.ingest import add, ingest
    from mmrec_core.store import is_read_only, open_store, remove_items, set_read_only

    tiny_store = tmp_path / "ro"
    ingest(tiny_catalog, tiny_store)
    set_read_only(tiny_store, True, note="test")
    before = open_store(tiny_store).version
    with pytest.raises(ReadOnlyStoreError, match="is read-only: nothing was changed"):
        remove_items(tiny_store, [open_store(tiny_store).ids[0]])
    with pytest.raises(ReadOnlyStoreError):
        add(tiny_catalog, tiny_store)
    assert open_store(tiny_store).version == before and is_read_only(tiny_store)
    store, change = remove_items(tiny_store, [open_store(tiny_store).ids[0]], force=True)
    assert change.removed == 1 and store.version != before
    set_read_only(tiny_store, False)
    assert not is_read_only(tiny_store)


def test_the_command_line_marks_refuses_and_forces(tmp_path, tiny_catalog):
    def mmrec(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "mmrec_core", *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, input=stdin, timeout=300)

    store = tmp_path / "ro"
    assert mmrec("ingest", tiny_catalog, "--store", store, "--read-only").returncode == 0
    assert "read-only" in mmrec("readonly", store).stdout
    from mmrec_core.store import open_store

    first = open_store(store).ids[0]
    before = open_store(store).version
    out = mmrec("remove", "--store", store, "--ids", first)
    assert out.returncode == 1 and "is read-only" in out.stderr and open_store(store).version == before
    out = mmrec("add", tiny_catalog, "--store", store)
    assert out.returncode == 1 and "is read-only" in out.stderr and open_store(store).version == before
    assert mmrec("remove", "--store", store, "--ids", first, "--force").returncode == 0
    assert "writable" in mmrec("readonly", store, "off").stdout
    out = mmrec("user", "add", "alice", "--users", tmp_path / "users.toml", "--password-stdin", stdin="correct horse\n")
    assert out.returncode == 0 and "correct horse" not in (tmp_path / "users.toml").read_text()
    assert np.all([access.load_users(tmp_path / "users.toml")["alice"].role == "editor"])


def test_old_uploaded_stores_are_pruned_but_never_read_only_or_built_in_ones(tmp_path, tiny_catalog):
    import os

    from mmrec_core.ingest import ingest
    from mmrec_core.store import prune_uploaded, set_owner, set_read_only

    root = tmp_path / "stores"
    for name in ("demo", "old", "kept", "new"):
        ingest(tiny_catalog, root / name)
    for name in ("old", "kept", "new"):
        set_owner(root / name, "alice")
    set_read_only(root / "kept", True)
    for name in ("demo", "old", "kept"):
        os.utime(root / name / "CURRENT", (0, 0))  # written in 1970
    assert prune_uploaded(root, 86400) == ["old"]
    assert sorted(p.name for p in root.iterdir()) == ["demo", "kept", "new"]
    assert prune_uploaded(root, 0) == []  # 0: never


def test_oidc_settings_list_editors_by_email_or_domain_and_refuse_anything_else(tmp_path):
    (tmp_path / "settings.toml").write_text('mode = "shared"\noidc_provider = "google"\n'
                                            'oidc_editors = ["Alice@Example.com", " @corp.example "]\n')
    s = access.load_settings({"MMREC_HOME": str(tmp_path)})
    assert (s.oidc_provider, s.oidc_editors, s.oidc_viewers) == ("google", ("alice@example.com", "@corp.example"), ())
    with pytest.raises(AccessError, match="'alice' is neither an email .* nor a domain"):
        access.Settings(oidc_editors=["alice"])
    with pytest.raises(AccessError, match="oidc_viewers must be a list"):
        access.Settings(oidc_viewers="@example.com")
    with pytest.raises(AccessError, match="oidc_provider 'my_idp' must name an \\[auth.NAME\\] section"):
        access.Settings(oidc_provider="my_idp")


def test_an_oidc_identity_is_an_editor_only_where_its_verified_email_is_listed():
    s = access.Settings(mode="shared", oidc_editors=("alice@example.com", "@corp.example"))

    def role(**claims):
        return access.oidc_user(claims, s).role

    assert role(email="ALICE@example.com", email_verified=True) == "editor"
    assert access.oidc_user({"email": "Alice@Example.com"}, s).name == "alice@example.com"
    assert role(email="bob@corp.example") == "editor"  # the whole domain; no email_verified claim: the provider's word
    assert role(email="bob@example.com") == "viewer"  # another person of a listed person's domain
    assert role(email="bob@sub.corp.example") == role(email="bob@evilcorp.example") == "viewer"
    assert role(email="alice@example.com", email_verified=False) == "viewer"
    assert role(email="alice@example.com", email_verified="false") == "viewer"  # a string, from some providers
    with pytest.raises(AccessError, match="sent no email address"):
        access.oidc_user({"sub": "1234"}, s)


def test_a_dashboard_refusing_anonymous_visitors_lets_in_only_listed_identities():
    s = access.Settings(mode="shared", anonymous="refuse", oidc_editors=("alice@example.com",),
                        oidc_viewers=("@example.com",))
    assert access.oidc_user({"email": "alice@example.com"}, s).role == "editor"
    assert access.oidc_user({"email": "bob@example.com"}, s).role == "viewer"
    with pytest.raises(AccessError, match="mallory@elsewhere.org is signed in, but this dashboard lets in only"):
        access.oidc_user({"email": "mallory@elsewhere.org"}, s)
    with pytest.raises(AccessError, match="the provider has not verified this email"):
        access.oidc_user({"email": "bob@example.com", "email_verified": False}, s)


def test_oidc_secrets_missing_what_signing_in_needs_are_named():
    client = {"client_id": "mmrec", "client_secret": "s3cret",
              "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration"}
    shared = {"redirect_uri": "https://mmrec.example.com/oauth2callback", "cookie_secret": "x" * 32}
    good = {**shared, **client}
    access.check_oidc_secrets(good)
    access.check_oidc_secrets({**shared, "google": client}, "google")
    with pytest.raises(AccessError, match=r"oidc_provider = 'okta', but Streamlit's secrets have no \[auth.okta\]"):
        access.check_oidc_secrets(good, "okta")
    with pytest.raises(AccessError, match="redirect_uri = 'https://mmrec.example.com/' must be .* /oauth2callback"):
        access.check_oidc_secrets({**good, "redirect_uri": "https://mmrec.example.com/"})
    with pytest.raises(AccessError, match="cookie_secret must be a random string of 32 characters"):
        access.check_oidc_secrets({**good, "cookie_secret": "short"})
    with pytest.raises(AccessError, match=r"\[auth\] in Streamlit's secrets lacks client_secret, server_metadata_url"):
        access.check_oidc_secrets({k: v for k, v in good.items() if k not in ("client_secret", "server_metadata_url")})
