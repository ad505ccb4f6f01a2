"""torch_geometric's parts that igcore uses, imported without the parts it never touches.

PyG's package init imports every subpackage, among them its datasets (whose LLM helpers import transformers)
and ``torch._dynamo`` (for ``torch_geometric.isinstance``). Those imports are most of the start of a short
command such as ``igcore update``, and no igcore path needs them. So while torch_geometric is first imported
here, the modules in :data:`DEFERRED` are deferred, as the standard library's ``importlib.util.LazyLoader``
defers a module: each becomes a module object whose code runs, whole and once, on the first read of one of its
attributes. Two things differ from ``LazyLoader``. Reading a module's import metadata (``__spec__``,
``__file__``, ...) does not load it: the import system and ``inspect.getmodule`` read that of every loaded
module, and a load then would run the module's code in the middle of another module's import. And the load
holds a lock, so that threads racing to a deferred module wait for its one load instead of reading it half
made. Code that uses these modules gets them as an eager import would; a process that never touches them does
not pay for them. A process that imported torch_geometric before this module (the dashboard server does,
eagerly: :func:`igcore.dashboard.serve.import_ml_stack`) is left as it is.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence

DEFERRED = frozenset({
    "torch._dynamo",
    "torch_geometric.datasets",
    "torch_geometric.llm",
    "torch_geometric.explain",
    "torch_geometric.loader",
    "torch_geometric.sampler",
    "torch_geometric.transforms",
    "torch_geometric.profile",
})

_LOCK = threading.RLock()
_LOADING: set[int] = set()  # ids of deferred modules whose code is running (on the thread holding the lock)


# What the import system and ``inspect`` read of every module in ``sys.modules`` (``inspect.getmodule`` walks them
# all, and torch calls it while registering operators): reading these is not using the module, and loading it
# then would run its code in the middle of another module's import
_METADATA = frozenset({"__name__", "__spec__", "__loader__", "__file__", "__cached__", "__package__", "__class__"})


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet; reading any attribute but its import metadata runs it first."""

    def __getattribute__(self, name: str):
        if type(self) is _DeferredModule and name not in _METADATA:
            _load(self)
        return types.ModuleType.__getattribute__(self, name)


class _DeferringLoader(importlib.abc.Loader):
    """Creates the module as its own loader would, and leaves it deferred instead of running its code."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__class__ = _DeferredModule


def _load(module: types.ModuleType) -> None:
    """Run a deferred module's code once; a thread that meets it meanwhile waits, the loading thread reads on
    (the module's own code reads it while it runs)."""
    with _LOCK:
        if type(module) is not _DeferredModule or id(module) in _LOADING:
            return
        _LOADING.add(id(module))
        try:
            spec = types.ModuleType.__getattribute__(module, "__spec__")
            loader = spec.loader.loader
            spec.loader = loader
            module.__loader__ = loader
            loader.exec_module(module)
            module.__class__ = types.ModuleType
        finally:
            _LOADING.discard(id(module))


class _Deferring(importlib.abc.MetaPathFinder):
    """Finds the modules in ``names`` as the path finder does, with their loading deferred."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _DeferringLoader(spec.loader)
        return spec


def import_deferring(package: str, names: frozenset[str]) -> None:
    """Import ``package`` (when not yet imported) with the modules ``names`` deferred."""
    if package in sys.modules:
        return
    finder = _Deferring(names)
    sys.meta_path.insert(0, finder)
    try:
        importlib.import_module(package)
    finally:
        sys.meta_path.remove(finder)


import_deferring("torch_geometric", DEFERRED)

from torch_geometric.nn import GATConv, GCNConv, GINConv, LGConv, SAGEConv  # noqa: E402
from torch_geometric.nn.models import LightGCN  # noqa: E402
from torch_geometric.nn.models.tgn import IdentityMessage, LastAggregator, TGNMemory  # noqa: E402
from torch_geometric.utils import to_torch_csr_tensor  # noqa: E402

__all__ = ["GATConv", "GCNConv", "GINConv", "IdentityMessage", "LGConv", "LastAggregator", "LightGCN", "SAGEConv",
           "TGNMemory", "to_torch_csr_tensor"]
