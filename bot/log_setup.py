"""structlog key=value lines on stderr, the stdlib loggers (aiogram's) included."""

from __future__ import annotations

import logging
import os

import structlog


def configure_logging() -> None:
    level = getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO)
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*processors, structlog.processors.KeyValueRenderer(sort_keys=False)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
