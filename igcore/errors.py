"""Errors that carry a message meant for a person.

Everything the CLI or the dashboard shows to a user derives from :class:`IgcoreError`; its ``str`` is one
clear sentence, never a stack trace. Anything else that escapes is a bug.
"""


class IgcoreError(Exception):
    """Base of all user-facing errors."""


class StoreLockedError(IgcoreError):
    """Another process holds the DuckDB file's write lock."""


class IngestError(IgcoreError):
    """A whole file cannot be imported (nothing was written)."""


class MissingColumnsError(IngestError):
    """The file lacks columns for required fields."""


class FileTooLargeError(IngestError):
    """The file is over the configured size limit."""
