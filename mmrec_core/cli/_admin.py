"""The command line's administration verbs: mark a store read-only, add a user of a shared dashboard."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from mmrec_core.errors import AccessError


def cmd_readonly(args: argparse.Namespace) -> int:
    from mmrec_core.store import is_read_only, set_read_only

    if args.state is not None:
        set_read_only(args.store, args.state == "on", note=args.note or "")
    print(f"store {Path(args.store).name}: {'read-only' if is_read_only(args.store) else 'writable'}")
    return 0


def cmd_user(args: argparse.Namespace) -> int:
    from mmrec_core.access import load_settings, save_user

    path = args.users or load_settings().users_file
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise AccessError("the two passwords differ; nothing was saved")
    save_user(path, args.name, password, args.role)
    print(f"user {args.name} ({args.role}) saved in {path} (an scrypt hash, never the password)")
    return 0


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("readonly", help="show, or set, whether a store refuses add and remove")
    p.add_argument("store")
    p.add_argument("state", nargs="?", choices=["on", "off"])
    p.add_argument("--note", help="who marked it and why (kept in STORE/READONLY)")
    p.set_defaults(func=cmd_readonly)
    p = sub.add_parser("user", help="users of a shared dashboard (MMREC_MODE=shared)")
    verbs = p.add_subparsers(dest="verb", required=True)
    q = verbs.add_parser("add", help="add or replace a user: asks for the password and keeps its scrypt hash")
    q.add_argument("name")
    q.add_argument("--role", default="editor", choices=["viewer", "editor"])
    q.add_argument("--users", help="the users file (default: the settings' users_file, .mmrec/users.toml)")
    q.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    q.set_defaults(func=cmd_user)
