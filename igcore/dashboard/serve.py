"""Starting the dashboard server: Streamlit's legacy ``pages/`` discovery switched off, the login checked first.

Why a work-around: the dashboard's pages live in ``pages/`` beside ``app.py`` (a fixed layout), and Streamlit
1.67 treats such an app as a legacy (v1) multipage app until some session has run ``st.navigation`` once. Until
then a first request for ``/data`` would run ``pages/data.py`` alone, without ``app.py``'s frame: no login, no
role check, no error boundary. Streamlit offers no option for this (its advice is to rename the folder); the
process-wide flag ``PagesManager.uses_pages_directory``, which ``st.navigation`` itself sets to False, is the
one switch, and :func:`use_navigation_only` is the only place that touches it. ``tests/test_serve.py`` fails
when Streamlit renames or drops it, and checks with a browser that a fresh server's first request for ``/data``
runs inside the frame, both for ``igcore app`` and for a plain ``streamlit run app.py``.

``igcore app`` checks the login settings with :func:`check_start`, then runs :func:`main` with Streamlit's own
arguments (``run app.py --server.address ...``).
"""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from igcore.dashboard import access

KEEP_OPEN_S = 20.0  # the server keeps its store open this long after the last read (igcore.storekeep)
PAGE_IMPORTS = ("streamlit", "plotly.express", "plotly.graph_objects", "plotly.subplots", "pyvis.network")


def warm_imports() -> None:
    """Import what the pages import (the libraries above and every ``igcore.dashboard`` module). After an install
    without byte-compiling (the README's ``--no-compile``) the first import of a module compiles it; done here,
    before the server answers, the bytecode cache is written while the store is prepared rather than while the
    first visitor waits."""
    import igcore.dashboard as dashboard

    for name in PAGE_IMPORTS:
        importlib.import_module(name)
    for module in pkgutil.iter_modules(dashboard.__path__):
        importlib.import_module(f"igcore.dashboard.{module.name}")


def use_navigation_only() -> bool:
    """Make Streamlit ignore the ``pages/`` folder in this process (as ``st.navigation`` does on its first
    call); True if the legacy mode was on until now (None: undecided, or True: a session started in it)."""
    from streamlit.runtime.pages_manager import PagesManager

    was_on = PagesManager.uses_pages_directory is not False
    PagesManager.uses_pages_directory = False
    return was_on


def secrets_files() -> list[Path]:
    """The secrets files Streamlit reads (``secrets.files``: ~/.streamlit/secrets.toml and
    .streamlit/secrets.toml under the working directory by default)."""
    from streamlit import config

    return [Path(p) for p in config.get_option("secrets.files")]


def read_secrets(paths: list[Path]) -> dict[str, Any]:
    """The merged TOML of those files that exist (later files win per top-level key), read as Streamlit
    will read them once the server runs, so that the start check sees the same ``[auth]``."""
    merged: dict[str, Any] = {}
    for path in paths:
        if path.is_file():
            try:
                merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise access.AccessConfigError(f"cannot read the secrets file {path}: {exc}") from None
    return merged


def auth_settings() -> access.AuthConfig:
    """The logins configured now: the environment's password hashes and role lists, and ``[auth]`` of the
    secrets files. Read on every script run (cheap), so a test or a restarted server sees changes."""
    return access.auth_config(os.environ, read_secrets(secrets_files()))


def served_address() -> str | None:
    """The address this server listens on (``server.address``); None means every interface, Streamlit's
    default. Under ``AppTest`` nothing is served, so it counts as 127.0.0.1 unless a test sets the option."""
    from streamlit import config

    address = config.get_option("server.address")
    if not address and config.get_option("global.appTest"):
        return "127.0.0.1"
    return address or None


def check_start(address: str | None, environ: Mapping[str, str] | None = None,
                secrets_map: Mapping[str, Any] | None = None) -> access.AuthConfig:
    """The login configuration the server will use; refuses (``AccessConfigError``) a non-local address
    without any login, and malformed password hashes, before the server starts."""
    env = os.environ if environ is None else environ
    config = access.auth_config(env, read_secrets(secrets_files()) if secrets_map is None else secrets_map)
    access.check_can_serve(address, config)
    return config


def import_ml_stack() -> None:
    """Import torch_geometric and resolve transformers' auto classes, once, in this thread. transformers 5
    resolves its names lazily, and two threads doing so at once can fail with "cannot import name 'AutoModel'"
    (torch_geometric's import reaches transformers too); the server's sessions run in threads, so the server
    does this before it serves. The pages do not import these libraries, so the first view does not wait."""
    import torch_geometric  # noqa: F401
    from transformers import AutoModel, AutoTokenizer  # noqa: F401


def main(argv: list[str]) -> None:
    """Run Streamlit's command line with ``argv`` after switching legacy page discovery off, letting the store
    stay open between reads (:mod:`igcore.storekeep`) and importing the machine-learning libraries
    (:func:`import_ml_stack`). The objects of those imports then go to the cycle
    collector's permanent generation (``gc.freeze``): they live as long as the server, and a full collection
    would otherwise walk all of them again, a pause that can land in any page's run (a Live add, a click)."""
    from igcore.store import Store

    use_navigation_only()
    Store.keep_open_s = KEEP_OPEN_S
    import_ml_stack()
    from streamlit.web import cli

    gc.freeze()
    sys.argv = ["streamlit", *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
