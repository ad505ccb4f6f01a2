"""What the pages name from lower layers, handed to them by the dashboard layer.

Pages import only streamlit, plotly/pyvis, ``pages.common`` and ``igcore.dashboard`` (tests/test_architecture.py
holds them to it), so the few types and settings they mention in signatures and widgets come from here: the
dashboard layer decides what of the library a page may see.
"""

from __future__ import annotations

from pandas import DataFrame, Timestamp

from igcore.config import IngestConfig
from igcore.device import DEVICES
from igcore.dp import PER_USER_NOTE
from igcore.dp.ledger import BudgetExhausted, Release
from igcore.embed import GNN_NAMES, GRAPH_ON
from igcore.errors import IgcoreError
from igcore.interests.scoring import ModelScorer
from igcore.paths import default_db_path
from igcore.pipeline.config import PipelineConfig
from igcore.progress import Progress

__all__ = ["DEVICES", "GNN_NAMES", "GRAPH_ON", "PER_USER_NOTE", "BudgetExhausted", "DataFrame", "IgcoreError",
           "IngestConfig", "ModelScorer", "PipelineConfig", "Progress", "Release", "Timestamp", "default_db_path"]
