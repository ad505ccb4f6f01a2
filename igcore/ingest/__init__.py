"""CSV ingestion: every row read is loaded, quarantined with a reason, or counted as an exact duplicate."""

from igcore.ingest.events import import_events
from igcore.ingest.items import import_items
from igcore.ingest.report import ImportReport

__all__ = ["ImportReport", "import_events", "import_items"]
