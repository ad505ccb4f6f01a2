"""The online state on disk, so that new events are taken in without replaying the old ones.

A trained pipeline's online state is its histories and graph edges (both read back from the store's events) plus
what the events left in tensors: the TGN memory's buffers, the item tables cached since the graph's last
refresh, and how many events have come in since that refresh. ``online.safetensors`` beside the checkpoint
holds those tensors, keyed like the serving state (:func:`igcore.recommend.serving.state_key`) by the
checkpoint's id and the events taken in, a prefix of the store's events in time order. A caller resumes from it
when the store's first ``events`` events still give that key, and feeds only the rest to ``update``; otherwise
(a back-dated event, a forgotten user, another checkpoint) it replays the log.

Saved with ``safetensors``: plain tensors, never unpickled. It holds each user's memory vector, derived from
their events: forgetting a user deletes it with the serving state.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igcore.paths import atomic_path

if TYPE_CHECKING:
    import torch

ONLINE = "online.safetensors"


@dataclasses.dataclass(frozen=True)
class SavedOnline:
    """The tensors of an online state, the key of the events it took in, how many they are, how many came in
    since the graph's last refresh, and the users and items that joined the model after training (their ids
    in the order they joined; :mod:`igcore.pipeline.grow`)."""

    tensors: dict[str, torch.Tensor]
    key: str
    events: int
    pending: int
    users: list[str] = dataclasses.field(default_factory=list)
    items: list[str] = dataclasses.field(default_factory=list)

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        record = {"key": self.key, "events": str(self.events), "pending": str(self.pending),
                  "users": json.dumps(self.users), "items": json.dumps(self.items)}
        with atomic_path(path) as tmp:
            save_file(self.tensors, str(tmp), metadata=record)


def load_online(path: Path) -> SavedOnline | None:
    """The online state saved at ``path``, or None when there is none or it cannot be read as one."""
    from safetensors.torch import load_file

    record = _record(path)
    if record is None:
        return None
    return SavedOnline(load_file(str(path)), record["key"], record["events"], record["pending"], record["users"],
                       record["items"])


def joined_ids(path: Path) -> tuple[list[str], list[str]]:
    """The ids of the users and items that joined the model, as saved at ``path`` (none without a readable
    state); reads the file's header only, without torch."""
    record = _record(path)
    return (record["users"], record["items"]) if record else ([], [])


def _record(path: Path) -> dict[str, Any] | None:
    """The saved state's metadata, parsed (key, events, pending, users, items), or None when unreadable."""
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
        record = {"key": meta["key"], "events": int(meta["events"]), "pending": int(meta["pending"]),
                  "users": json.loads(meta["users"]), "items": json.loads(meta["items"])}
    except (SafetensorError, KeyError, ValueError, OSError):  # JSONDecodeError is a ValueError
        return None
    return record
