"""What an import did, row by row accounted: read = loaded + quarantined + duplicate."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class ImportReport:
    import_id: int | None
    kind: str
    file_name: str
    sha256: str
    status: str  # ok | empty | already_imported
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    reasons: dict[str, int] = dataclasses.field(default_factory=dict)  # quarantine reason kind -> rows
    unknown_event_types: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """A few lines for a terminal or a status box."""
        if self.status == "already_imported":
            return f"{self.file_name}: already imported as import {self.import_id}; nothing changed"
        lines = [
            f"{self.file_name}: import {self.import_id} ({self.kind}) {self.status} in {self.seconds:.2f} s",
            f"  rows read {self.rows_read:,} = loaded {self.rows_loaded:,} + quarantined "
            f"{self.rows_quarantined:,} + duplicate {self.rows_duplicate:,}",
            "  columns: " + ", ".join(f"{col} -> {field}" for field, col in self.mapping.items()),
        ]
        lines += [f"  quarantined {n:,}: {reason}" for reason, n in self.reasons.items()]
        if self.unknown_event_types:
            kept = ", ".join(f"{t} ({n:,})" for t, n in self.unknown_event_types.items())
            lines.append(f"  unknown event types kept as they are: {kept}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)
