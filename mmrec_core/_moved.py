"""The module paths of mmrec 0.2 (one flat package), redirected to where the code lives now, for one release.

`import mmrec_core.fusion` or `from mmrec_core.search import rank` still work and give the new module itself
(not a copy), with a DeprecationWarning that names the new path. Removed in mmrec 0.4.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

# old path -> the module that holds its code now (a package where one old module became several)
MOVED = {
    "mmrec_core.media": "mmrec_core.catalog._media",
    "mmrec_core.video": "mmrec_core.catalog.video",
    "mmrec_core.aligned": "mmrec_core.encoders.aligned",
    "mmrec_core.clip": "mmrec_core.encoders.openclip",
    "mmrec_core.audio": "mmrec_core.encoders.librosa_audio",
    "mmrec_core.audio_aisfx": "mmrec_core.encoders.aisfx_audio",
    "mmrec_core.fusion": "mmrec_core.retrieval._fusion",
    "mmrec_core.index": "mmrec_core.retrieval._index",
    "mmrec_core.backends": "mmrec_core.retrieval._backends",
    "mmrec_core.milvus": "mmrec_core.retrieval.milvus",
    "mmrec_core.search": "mmrec_core.retrieval._search",
    "mmrec_core.metrics": "mmrec_core.retrieval._metrics",
    "mmrec_core.columns": "mmrec_core.store._columns",
    "mmrec_core.cache": "mmrec_core.ingest._cache",
    "mmrec_core.engines": "mmrec_core.ingest",
    "mmrec_core.ray_engine": "mmrec_core.ingest._ray",
    "mmrec_core.interactions": "mmrec_core.recs._interactions",
    "mmrec_core.profile": "mmrec_core.recs._profile",
    "mmrec_core.recommend": "mmrec_core.recs._recommend",
    "mmrec_core.rec_eval": "mmrec_core.recs._evaluate",
    "mmrec_core.rec_store": "mmrec_core.recs._store",
    "mmrec_core.datasets": "mmrec_core.recs._datasets",
    "mmrec_core.recommenders": "mmrec_core.recs._models",
    "mmrec_core.recommenders.base": "mmrec_core.recs._models.base",
    "mmrec_core.recommenders.baselines": "mmrec_core.recs._models.baselines",
    "mmrec_core.recommenders.blend": "mmrec_core.recs._models.blend",
    "mmrec_core.recommenders.content": "mmrec_core.recs._models.content",
    "mmrec_core.recommenders.hybrid": "mmrec_core.recs._models.hybrid",
    "mmrec_core.evaluate": "mmrec_core.insight._evaluate",
    "mmrec_core.tune": "mmrec_core.insight",
    "mmrec_core.explain": "mmrec_core.insight._explain",
    "mmrec_core.viz": "mmrec_core.insight._viz",
    "mmrec_core.browse": "mmrec_core.insight._browse",
    "mmrec_core.cli_recs": "mmrec_core.cli._recs",
}


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the new module object."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=name == "mmrec_core.recommenders")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} has moved to {new} (see ARCHITECTURE.md); the old path goes in mmrec 0.4",
                      DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._spec = module.__spec__  # the import system sets __spec__ on what this returns: put it back below
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec


def install() -> None:
    """Put the redirect first on sys.meta_path, once: before the path finder, which would otherwise load an
    old submodule path (mmrec_core.recommenders.base) a second time as a new module."""
    if not any(isinstance(f, _Redirect) for f in sys.meta_path):
        sys.meta_path.insert(0, _Redirect())
