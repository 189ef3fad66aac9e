"""Encoding engines by name: `local` (this process, the default) or `ray` (Ray Data, imported only when chosen).

Adding an engine is one module with a class that has `run(kind, jobs, *, encoders, spec, batch_size)` and
one line in _ENGINES.
"""

from __future__ import annotations

from typing import Any, Callable

from mmrec_core.errors import MMRecError, UnknownNameError
from mmrec_core.ingest._engine import EncodingEngine, InProcess


def _ray(**options: Any) -> EncodingEngine:
    from mmrec_core.ingest._ray import RayEngine

    return RayEngine(**options)


_ENGINES: dict[str, Callable[..., EncodingEngine]] = {"local": lambda: InProcess(), "ray": _ray}


def list_engines() -> list[str]:
    return list(_ENGINES)


def get_engine(name: str | EncodingEngine = "local", **options: Any) -> EncodingEngine:
    """The engine named `name` ('local': this process; 'ray': Ray Data, options address=, num_cpus=, actors=)."""
    if not isinstance(name, str):
        return name
    if name not in _ENGINES:
        raise UnknownNameError(f"unknown encoding engine {name!r}. Available: {', '.join(_ENGINES)}")
    if options and name == "local":
        raise MMRecError(f"the local engine takes no options, got {', '.join(options)}")
    return _ENGINES[name](**options)
