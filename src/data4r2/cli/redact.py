"""--debug logging with every secret the run holds replaced, whichever library logs it.

Redaction sits on the handler (a Formatter), not in each logger: botocore, urllib3 and
huggingface_hub log headers and credentials through their own loggers, and a handler sees
every line whatever its source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .text import printable

MASK = "****"


class Redactor:
    """Replaces each known secret value in a text; longest first, so no fragment survives."""

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if s}
        self.secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    """Formats a record with its message made printable, then masks every secret."""

    def __init__(self, redact: Redactor, fmt: str) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        # A copy, so other handlers see the record unchanged; control characters in the
        # message are escaped (a hostile file name must not forge a line), the traceback
        # keeps its own line breaks.
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = printable(record.getMessage()), None
        return self.redact(super().format(safe))


def debug_logging(redact: Redactor) -> None:
    """Everything at DEBUG to stderr, through the redacting formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter(redact, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
