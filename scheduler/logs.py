"""Log lines on stdout for ``appliance up``: plain text or one JSON object per line.

Code logs a sentence and, for machines, ``extra={"fields": {...}}``; the JSON format
puts those fields beside the message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOGGERS", "JsonFormatter", "PlainFormatter", "logging_to"]

LOGGERS = ("appliance", "scheduler", "imagery_edge", "compiled_models", "connectors")


def _when(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class PlainFormatter(logging.Formatter):
    """``2030-01-01T03:00:00.000+00:00 INFO scheduler: job ingest run 3 ok ...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_when(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: at, level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": _when(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


@contextmanager
def logging_to(stream: TextIO, fmt: str, level: int = logging.INFO) -> Iterator[logging.Handler]:
    """Send the appliance's loggers to ``stream`` in ``fmt`` (plain or json) while inside;
    their previous handlers, levels and propagation come back afterwards."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    loggers = [logging.getLogger(name) for name in (*LOGGERS, "apscheduler")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        # APScheduler's own lines ("Running job ...") would double ours; its warnings stay
        logger.setLevel(max(level, logging.WARNING) if logger.name == "apscheduler" else level)
        logger.propagate = False
    try:
        yield handler
    finally:
        handler.flush()
        for logger, (old_level, old_propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = old_propagate
