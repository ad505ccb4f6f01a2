"""``igcore privacy``: the store's privacy settings and their state, in one command (kept beside
:mod:`igcore.cli`, which adds it): whether user ids are pseudonymised and where the key is, and the
differential-privacy budget of its cohort releases, what they spent, and the settings that change it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

Command = Callable[[str, Callable[[argparse.Namespace], "int | None"], str], argparse.ArgumentParser]


def add_privacy_commands(command: Command) -> None:
    """Add ``privacy`` through ``command(name, handler, help)``, which gives it its ``--db``."""
    cmd = command("privacy", _privacy, "pseudonymisation and the privacy budget of cohort releases; set the budget")
    cmd.add_argument("--budget", metavar="EPSILON", help="the store's total epsilon for private releases")
    cmd.add_argument("--epsilon", metavar="EPSILON", help="the epsilon each new release spends")
    cmd.add_argument("--min-cohort", type=int, metavar="USERS", help="cells of fewer users are suppressed")
    cmd.add_argument("--json", action="store_true")


def _privacy(args: argparse.Namespace) -> int:
    from igcore.dp.ledger import accounting, set_settings, settings
    from igcore.privacy import is_pseudonymized
    from igcore.pseudokey import key_path
    from igcore.store import Store

    changing = any(v is not None for v in (args.budget, args.epsilon, args.min_cohort))
    with Store(args.db, read_only=not changing and Path(args.db or "").exists()) as store:
        if changing:
            set_settings(store, args.budget, args.epsilon, args.min_cohort)
        chosen, account, pseudonymous = settings(store), accounting(store), is_pseudonymized(store)
        key = key_path(store.path)
    state = {"pseudonymized": pseudonymous, "key_file": str(key), "key_file_present": key.exists(),
             "budget": str(chosen.budget), "epsilon_per_release": str(chosen.epsilon),
             "min_cohort": chosen.min_cohort, "spent": str(account.spent), "left": str(account.left),
             "releases": account.releases}
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    ids = "pseudonymised at ingest" if pseudonymous else "kept as imported (shown with display pseudonyms)"
    print(f"user ids: {ids}; pseudonym key: {key} ({'present' if key.exists() else 'missing'})")
    print(f"{account.summary()}; each new release spends epsilon {chosen.epsilon.normalize():f}; cells of fewer "
          f"than {chosen.min_cohort} users are suppressed")
    return 0
