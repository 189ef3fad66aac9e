"""Who may do what on a shared dashboard: the mode, users and their roles, password hashes, login backoff, quotas.

Two modes. `local` (the default, `make run` on a laptop): everyone is an editor, no login. `shared`: anonymous
visitors are viewers (or refused, `anonymous = "refuse"`), editors log in with a password checked against a
users file of scrypt hashes (`mmrec user add NAME`); nothing is ever stored or logged in clear. Where Streamlit's
secrets name an OpenID Connect provider (`[auth]`), people also sign in there: the provider vouches for their email
and `oidc_editors` says whose email makes an editor (`oidc_user`). A viewer searches, tunes weights, keeps a profile
in the session and reads every page; an editor also uploads catalogs, adds to and removes from stores, trains and
saves models, builds MovieLens and deletes stores.

Settings come from `$MMREC_SETTINGS` (default `$MMREC_HOME/settings.toml`, else `.mmrec/settings.toml`), a TOML
file with the keys of `Settings`; the environment wins: `MMREC_MODE`, `MMREC_ANONYMOUS`, `MMREC_USERS`. Pure:
no Streamlit; the pages hold one `LoginThrottle` and one `UploadQuota` per process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
import tomllib
from collections import defaultdict, deque
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

from mmrec_core.errors import AccessError

MODES = ("local", "shared")
ROLES = ("viewer", "editor")
ANONYMOUS = ("viewer", "refuse")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_PROVIDER = re.compile(r"^[A-Za-z0-9-]{0,64}$")  # Streamlit refuses an underscore in a provider's name
_IDENTITY = re.compile(r"^([^@\s]+)?@[^@\s]+\.[^@\s]+$")  # "alice@example.com", or "@example.com": the whole domain
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # about 50 ms a check on this CPU, 16 MB: slow to guess, quick to log in
FREE_TRIES = 3  # failed logins before each further try must wait
MAX_WAIT_S = 300.0


@dataclass(frozen=True)
class Settings:
    """A deployment's access settings (see the module's docstring for where they come from)."""

    mode: str = "local"
    anonymous: str = "viewer"
    users_file: str = ""  # default: users.toml beside the settings file
    uploads_per_hour: int = 10  # catalog uploads (new stores and additions) per session
    upload_disk_gb: float = 20.0  # every uploaded store together; the built-in demos do not count
    upload_disk_gb_per_editor: float = 5.0  # what one editor's uploaded stores may take
    prune_uploads_days: float = 0.0  # uploaded stores older than this are deleted (0: never); read-only ones stay
    oidc_provider: str = ""  # the [auth.NAME] of Streamlit's secrets that signs people in; "" is [auth] itself
    oidc_editors: tuple[str, ...] = ()  # emails, or "@example.com" for a domain: signed in, they are editors
    oidc_viewers: tuple[str, ...] = ()  # with anonymous = "refuse": who else may come in, as a viewer

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AccessError(f"mode {self.mode!r} must be one of {', '.join(MODES)}")
        if self.anonymous not in ANONYMOUS:
            raise AccessError(f"anonymous {self.anonymous!r} must be one of {', '.join(ANONYMOUS)}")
        for name in ("uploads_per_hour", "upload_disk_gb", "upload_disk_gb_per_editor", "prune_uploads_days"):
            if not getattr(self, name) >= 0:
                raise AccessError(f"{name}={getattr(self, name)!r} must be a number >= 0")
        if not isinstance(self.oidc_provider, str) or not _PROVIDER.match(self.oidc_provider):
            raise AccessError(f"oidc_provider {self.oidc_provider!r} must name an [auth.NAME] section of Streamlit's "
                              "secrets (letters, digits and -; no underscore), or be \"\" for [auth] itself")
        for name in ("oidc_editors", "oidc_viewers"):
            object.__setattr__(self, name, _identities(name, getattr(self, name)))

    @property
    def shared(self) -> bool:
        return self.mode == "shared"


def _identities(key: str, values: object) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise AccessError(f'{key} must be a list of emails or domains, e.g. ["alice@example.com", "@example.com"]')
    for v in values:
        if not isinstance(v, str) or not _IDENTITY.match(v.strip()):
            raise AccessError(f"{key}: {v!r} is neither an email (alice@example.com) nor a domain (@example.com)")
    return tuple(v.strip().lower() for v in values)


def settings_file(env: Mapping[str, str] = os.environ) -> Path:
    home = Path(env.get("MMREC_HOME") or ".mmrec")
    return Path(env.get("MMREC_SETTINGS") or home / "settings.toml")


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    """The file's settings under the environment's (MMREC_MODE, MMREC_ANONYMOUS, MMREC_USERS)."""
    path = settings_file(env)
    values: dict = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AccessError(f"cannot read the settings file {path}: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise AccessError(f"the settings file {path} has unknown keys {unknown}; known: {', '.join(sorted(known))}")
    for key, var in (("mode", "MMREC_MODE"), ("anonymous", "MMREC_ANONYMOUS"), ("users_file", "MMREC_USERS")):
        if env.get(var):
            values[key] = env[var].strip()
    if not values.get("users_file"):
        values["users_file"] = str(path.with_name("users.toml"))
    return Settings(**values)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$SALT$HASH' (hex): what a users file keeps instead of the password."""
    if len(password) < 8:
        raise AccessError("a password needs at least 8 characters")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


def load_users(path: str | Path) -> dict[str, User]:
    """The users file: one table a user, `[users.NAME]` with `role` and `password_hash`; {} where there is none."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("users", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AccessError(f"cannot read the users file {path}: {exc}") from None
    out = {}
    for name, entry in data.items():
        role, digest = entry.get("role", "editor"), entry.get("password_hash", "")
        if role not in ROLES or not digest.startswith("scrypt$"):
            raise AccessError(f"user {name!r} in {path} needs role = viewer|editor and a password_hash (mmrec user add)")
        out[name] = User(name, role, digest)
    return out


def save_user(path: str | Path, name: str, password: str, role: str = "editor") -> None:
    """Add or replace a user in the users file (written atomically, readable by its owner only)."""
    if not _NAME.match(name):
        raise AccessError(f"user name {name!r}: use 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise AccessError(f"role {role!r} must be one of {', '.join(ROLES)}")
    path = Path(path)
    users = load_users(path)
    users[name] = User(name, role, hash_password(password))
    text = "# mmrec users: scrypt hashes, never passwords (mmrec user add NAME)\n" + "".join(
        f'\n[users."{u.name}"]\nrole = "{u.role}"\npassword_hash = "{u.password_hash}"\n' for u in users.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class LoginThrottle:
    """Failed logins counted per key (a user name, a client); after FREE_TRIES each further try waits twice as long."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.failures: dict[str, int] = defaultdict(int)
        self.last: dict[str, float] = {}
        self.total = 0
        self._lock = threading.Lock()

    def wait_left(self, *keys: str) -> float:
        with self._lock:
            now = self.clock()
            return max([0.0] + [self.last[k] + self._delay(self.failures[k]) - now for k in keys if k in self.last])

    @staticmethod
    def _delay(failures: int) -> float:
        return 0.0 if failures < FREE_TRIES else min(MAX_WAIT_S, 2.0 ** (failures - FREE_TRIES + 1))

    def failed(self, *keys: str) -> None:
        with self._lock:
            self.total += 1
            for k in keys:
                self.failures[k] += 1
                self.last[k] = self.clock()

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self.failures.pop(k, None)
                self.last.pop(k, None)


def login(users: Mapping[str, User], throttle: LoginThrottle, name: str, password: str, *, client: str) -> User:
    """The user, or AccessError: a wrong name and a wrong password read the same; a try too soon is refused."""
    keys = (f"user:{name.strip().lower()}", f"client:{client}")
    wait = throttle.wait_left(*keys)
    if wait > 0:
        raise AccessError(f"too many failed logins: try again in {wait:.0f} s")
    user = users.get(name.strip())
    if user is None or not verify_password(password, user.password_hash):
        throttle.failed(*keys)
        raise AccessError("wrong user name or password")
    throttle.succeeded(*keys)
    return user


def _listed(email: str, patterns: tuple[str, ...]) -> bool:
    return any(email == p or (p.startswith("@") and email.endswith(p)) for p in patterns)


def oidc_user(claims: Mapping[str, object], settings: Settings) -> User:
    """Someone signed in with OpenID Connect (`claims`: the provider's, as `st.user` holds them) as a User named by
    their email: an editor where it is in `oidc_editors`, else a viewer where it is in `oidc_viewers` or anonymous
    visitors are viewers; AccessError where the settings let them in as neither. An email the provider says it has
    not verified (`email_verified` false) is listed nowhere."""
    email = claims.get("email")
    if not isinstance(email, str) or email.count("@") != 1:
        raise AccessError("the sign-in provider sent no email address (its scopes need \"email\"), so this "
                          "dashboard cannot tell who you are")
    email = email.strip().lower()
    verified = str(claims.get("email_verified", True)).lower() != "false"  # some providers send "false", a string
    if verified and _listed(email, settings.oidc_editors):
        return User(email, "editor", "")
    if (verified and _listed(email, settings.oidc_viewers)) or settings.anonymous == "viewer":
        return User(email, "viewer", "")
    raise AccessError(f"{email} is signed in, but this dashboard lets in only the people its settings list "
                      f"(oidc_editors, oidc_viewers){'' if verified else '; the provider has not verified this email'}")


def check_oidc_secrets(auth: Mapping[str, object], provider: str = "") -> None:
    """AccessError naming what Streamlit's `[auth]` secrets lack for `provider` ("" the default) to sign people in."""
    where = f"[auth.{provider}]" if provider else "[auth]"
    section = auth.get(provider) if provider else auth
    if not isinstance(section, Mapping):
        raise AccessError(f"settings name oidc_provider = {provider!r}, but Streamlit's secrets have no {where}")
    redirect = auth.get("redirect_uri")
    if not isinstance(redirect, str) or not redirect.endswith("/oauth2callback"):
        raise AccessError(f"[auth] redirect_uri = {redirect!r} must be this dashboard's address followed by "
                          "/oauth2callback, e.g. \"https://mmrec.example.com/oauth2callback\"")
    secret = auth.get("cookie_secret")
    if not isinstance(secret, str) or len(secret) < 32:
        raise AccessError("[auth] cookie_secret must be a random string of 32 characters or more (it signs who "
                          "is signed in): python -c 'import secrets; print(secrets.token_hex(32))'")
    missing = [k for k in ("client_id", "client_secret", "server_metadata_url") if not section.get(k)]
    if missing:
        raise AccessError(f"{where} in Streamlit's secrets lacks {', '.join(missing)} (from the provider's registration"
                          " of this dashboard; server_metadata_url ends in /.well-known/openid-configuration)")


class UploadQuota:
    """At most `per_hour` uploads in any hour for each key (a session), counted when they start."""

    def __init__(self, per_hour: int, clock=time.monotonic) -> None:
        self.per_hour, self.clock = per_hour, clock
        self.seen: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        with self._lock:
            now, seen = self.clock(), self.seen[key]
            while seen and now - seen[0] >= 3600:
                seen.popleft()
            if len(seen) >= self.per_hour:
                wait = 3600 - (now - seen[0])
                raise AccessError(f"this session has uploaded {len(seen)} catalogs in the last hour (the limit is "
                                  f"{self.per_hour}); try again in {wait / 60:.0f} min")
            seen.append(now)


def check_disk(used_gb: float, adding_gb: float, limit_gb: float, *, whose: str) -> None:
    """AccessError where `adding_gb` more would take `whose` uploaded stores past `limit_gb`."""
    if used_gb + adding_gb > limit_gb:
        raise AccessError(f"{whose} uploaded stores take {used_gb:.2f} GB; {adding_gb:.2f} GB more would pass the "
                          f"limit of {limit_gb:g} GB. Delete a store first; nothing was stored.")
