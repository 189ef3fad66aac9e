"""Who is looking (Streamlit glue over mmrec_core.access): the session's role, sign-in and out, the editors' gates.

In local mode everyone is an editor and none of this shows. In shared mode a visitor is a viewer (or is asked to
sign in first, `anonymous = "refuse"`), and every action that writes to the server's disk asks `can_edit()` twice:
before its control is drawn, and again when it runs (a replayed widget message meets the second check).

People sign in with a password (the users file) in this session, or with the OpenID Connect provider of
Streamlit's secrets (`[auth]`: `st.login`; Streamlit keeps who it is in a signed cookie, read as `st.user`).
Without an `[auth]` section only the password form shows, as before.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Mapping

import streamlit as st

from mmrec_core import access, session
from mmrec_core.errors import AccessError
from mmrec_core.store import is_read_only
from pages._state import ss
from pages._stores import VIDEO_DEMO_STORE

DEMOS = (session.DEFAULT_STORE, VIDEO_DEMO_STORE)  # built in: read-only when the dashboard is shared


@st.cache_resource(show_spinner=False)
def settings() -> access.Settings:
    return access.load_settings()


@st.cache_resource(show_spinner=False)
def throttle() -> access.LoginThrottle:
    return access.LoginThrottle()  # one per process: every session's failures count


@st.cache_resource(show_spinner=False)
def quota() -> access.UploadQuota:
    return access.UploadQuota(settings().uploads_per_hour)


def oidc() -> Mapping | None:
    """Streamlit's `[auth]` secrets on a shared dashboard, else None (no secrets file: password sign-in only).
    AccessError where they lack what signing in needs."""
    if not settings().shared:
        return None
    try:
        auth = st.secrets["auth"]
    except (KeyError, FileNotFoundError):  # no [auth], or no secrets file at all
        return None
    access.check_oidc_secrets(auth, settings().oidc_provider)
    return auth


def oidc_user() -> access.User | None:
    """Who signed in with the provider (None: nobody); AccessError where the settings let them in as no one."""
    if oidc() is None or not st.user.get("is_logged_in"):
        return None
    return access.oidc_user(st.user.to_dict(), settings())


def current_user() -> access.User | None:
    """Who is signed in: with a password in this session, else with the provider, else nobody."""
    if ss.get("user") is not None:
        return ss.user
    try:
        return oidc_user()
    except AccessError:  # refused, or the secrets are incomplete: the sidebar and the gate say why
        return None


def role() -> str | None:
    """'editor', 'viewer', or None (shared, anonymous visitors refused, nobody signed in)."""
    if not settings().shared:
        return "editor"
    user = current_user()
    if user is not None:
        return user.role
    return "viewer" if settings().anonymous == "viewer" else None


def can_edit() -> bool:
    return role() == "editor"


def require_editor(what: str) -> None:
    """AccessError unless this session may `what` (the second check, where the action runs)."""
    if not can_edit():
        raise AccessError(f"{what} needs an editor: sign in as one (this dashboard is shared; viewers search and explore)")


def read_only(name: str) -> bool:
    """Whether store `name` refuses additions: marked so, or a built-in demo of a shared dashboard."""
    return is_read_only(session.stores_root() / name) or (settings().shared and name in DEMOS)


def session_key() -> str:
    """This browser session's key for quotas (not its address: many people may share one)."""
    if "quota_key" not in ss:
        ss.quota_key = secrets.token_hex(8)
    return ss.quota_key


def _sign_in(name: str, password: str) -> None:
    client = str(st.context.ip_address or "unknown")
    try:
        users = access.load_users(settings().users_file)
        ss.user = access.login(users, throttle(), name, password, client=client)
        ss.login_error = None
    except AccessError as exc:
        ss.login_error = str(exc)


def sign_in_form(where) -> None:
    with where.form("sign-in", clear_on_submit=True):
        name = st.text_input("User name", key="login_name")
        password = st.text_input("Password", type="password", key="login_password")
        if st.form_submit_button("Sign in"):
            _sign_in(name, password)
            st.rerun()
    if ss.get("login_error"):
        where.error(ss.login_error)


def provider_name() -> str:
    return settings().oidc_provider.capitalize() or "single sign-on"


def sign_in_buttons(where, *, provider: bool = True, folded: bool = True) -> None:
    """The ways in: the provider (where the secrets name one) and, where there is a users file or no provider, the
    password form."""
    try:
        auth = oidc()
    except AccessError as exc:
        auth = None
        where.error(f"Signing in with a provider is not set up right: {exc}")
    if auth is not None and provider:
        where.button(f"Sign in with {provider_name()}", key="sign-in-oidc", type="primary", on_click=st.login,
                     args=(settings().oidc_provider or None,))
    if auth is not None and not Path(settings().users_file).is_file():
        return
    if not folded:
        sign_in_form(where)
        return
    label = "Sign in with a password" if auth is not None else "Editors: sign in"
    with where.expander(label, expanded=bool(ss.get("login_error"))):
        sign_in_form(st)


def refused_note(where) -> bool:
    """Signed in with the provider but let in as no one (or it sent no email): say why, offer a way out."""
    try:
        if oidc() is None or ss.get("user") is not None:
            return False
    except AccessError:
        return False  # sign_in_buttons says what the secrets lack
    try:
        oidc_user()
    except AccessError as exc:
        where.warning(str(exc))
        where.button("Sign out", key="sign-out-oidc", on_click=st.logout)
        return True
    return False


def sidebar_box() -> None:
    """Shared mode: who is signed in and a way out, or the ways to sign in."""
    if not settings().shared:
        return
    user = current_user()
    with st.sidebar:
        if user is not None:
            st.caption(f"Signed in as **{session.md_escape(user.name)}** ({user.role})")
            if ss.get("user") is not None:
                st.button("Sign out", key="sign-out", on_click=ss.__setitem__, args=("user", None))
            else:  # Streamlit forgets the provider's cookie and starts a new session
                st.button("Sign out", key="sign-out-oidc", on_click=st.logout)
        refused = user is None and refused_note(st)
        if user is None or (ss.get("user") is None and user.role != "editor"):  # a viewer may sign in as an editor
            sign_in_buttons(st, provider=user is None and not refused)
        if user is None:
            st.caption("Viewers need no account: search, weights, Why, your profile and the map are open.")


def gate() -> None:
    """Stop the page here for a visitor the settings refuse, with the ways to sign in."""
    if role() is not None:
        return
    st.title("mmrec")
    refused = refused_note(st)
    st.info("This dashboard is shared with its editors only: sign in to continue.")
    sign_in_buttons(st, provider=not refused, folded=False)
    st.stop()


def check_upload(nbytes: int) -> None:
    """AccessError before an upload is stored: the editor's role, the session's uploads this hour, the disk quotas."""
    from mmrec_core.store import disk_bytes, owner_of

    require_editor("Adding a catalog")
    if not settings().shared:
        return
    root = session.stores_root()
    uploaded = [p for p in root.iterdir() if (p / "CURRENT").is_file() and p.name not in DEMOS] if root.is_dir() else []
    gb = nbytes / 1e9
    access.check_disk(sum(disk_bytes(p) for p in uploaded) / 1e9, gb, settings().upload_disk_gb, whose="All")
    me = current_user().name
    mine = sum(disk_bytes(p) for p in uploaded if owner_of(p) == me) / 1e9
    access.check_disk(mine, gb, settings().upload_disk_gb_per_editor, whose=f"{me}'s")
    quota().take(session_key())


def mark_owner(name: str) -> None:
    from mmrec_core.store import set_owner

    user = current_user()
    if settings().shared and user is not None:
        set_owner(session.stores_root() / name, user.name)
