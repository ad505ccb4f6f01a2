"""Interest Graph Studio core library.

Kept import-light on purpose: ``import igcore`` pulls in nothing heavy, so the CLI starts fast and
each stage (store, ingest, models) is imported only where it is used.
"""

__version__ = "0.1.0"
