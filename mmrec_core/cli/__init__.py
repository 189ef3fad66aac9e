"""The command line (`mmrec`, `python -m mmrec_core`): ingest, add, remove, search, evaluate, tune, strategies, and the
recommendation verbs train, evaluate-recs, recommend. Models load once per process.
"""

from __future__ import annotations

from mmrec_core.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
