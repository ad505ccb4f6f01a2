"""torch_geometric imported without what igcore never uses (igcore.embed.pyg): deferred modules stay unrun until
first read, then run whole, once, whichever thread reads them first."""

from __future__ import annotations

import builtins
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from igcore.embed.pyg import import_deferring


def test_the_update_stages_import_without_pygs_datasets_transformers_or_dynamo():
    probe = ("import sys; import igcore.update.memory, igcore.embed.graph, igcore.pipeline.model; "
             "kind = lambda name: type(sys.modules[name]).__name__; "
             "print(kind('torch._dynamo'), kind('torch_geometric.datasets'), 'transformers' in sys.modules, "
             "'torch._dynamo.convert_frame' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["_DeferredModule", "_DeferredModule", "False", "False"]


def test_a_deferred_library_module_works_when_used():
    """PyG's datasets and torch._dynamo load on first use, whole: classes, submodules, torch.compile."""
    probe = ("import torch; import igcore.embed.pyg; import torch_geometric.datasets as d; "
             "from torch_geometric.datasets import FakeDataset; "
             "f = torch.compile(lambda x: x * 2, backend='eager'); "
             "print(d.FakeDataset is FakeDataset, type(d).__name__, f(torch.ones(2)).tolist(), "
             "type(torch._dynamo).__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "module", "[2.0,", "2.0]", "module"]


@pytest.fixture
def probe_package(tmp_path: Path, monkeypatch):
    """A package whose init imports a slow submodule ``heavy`` (it reports its start, then waits to be let go)."""
    name = "igc_probe_pkg"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(f"import {name}.heavy\nLIGHT = 1\n")
    (tmp_path / name / "heavy.py").write_text(
        "import builtins\nbuiltins._igc_probe['runs'] += 1\nbuiltins._igc_probe['started'].set()\n"
        "builtins._igc_probe['release'].wait(60)\nVALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    state = {"runs": 0, "started": threading.Event(), "release": threading.Event()}
    monkeypatch.setattr(builtins, "_igc_probe", state, raising=False)
    yield name, state
    state["release"].set()
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_a_deferred_module_runs_once_on_first_read_and_a_racing_thread_waits_for_it(probe_package):
    name, state = probe_package
    import_deferring(name, frozenset({f"{name}.heavy"}))
    package = sys.modules[name]
    assert package.LIGHT == 1 and state["runs"] == 0  # the package ran; its heavy part did not

    got: dict[str, object] = {}

    def read(who: str) -> None:
        try:
            got[who] = package.heavy.VALUE
        except AttributeError as exc:  # what a thread would meet in a half-run module
            got[who] = exc

    first = threading.Thread(target=read, args=("first",))
    first.start()
    assert state["started"].wait(60)  # the first reader is running the module now
    second = threading.Thread(target=read, args=("second",))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # it waits for the load instead of reading a half-run module
    state["release"].set()
    first.join(60)
    second.join(60)
    assert got == {"first": 42, "second": 42}
    assert state["runs"] == 1
    assert type(package.heavy).__name__ == "module"


def test_a_package_imported_before_is_left_as_it_is(probe_package):
    name, state = probe_package
    state["release"].set()
    __import__(name)
    import_deferring(name, frozenset({f"{name}.heavy"}))
    assert state["runs"] == 1 and type(sys.modules[f"{name}.heavy"]).__name__ == "module"
