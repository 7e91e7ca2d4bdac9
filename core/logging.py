"""Structured logs: one JSON object per line, tagged with the request being served."""

import contextvars
import logging
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

# Set by RequestIdMiddleware (request id) and SessionTimeoutMiddleware (user) per request.
request_context = contextvars.ContextVar("request_context", default=None)


def bind(**values):
    """Add values (request_id, user, tenant) to every log line of the current request."""
    request_context.set({**(request_context.get() or {}), **values})


class RequestContextFilter(logging.Filter):
    def filter(self, record):
        context = request_context.get() or {}
        for key in ("request_id", "user", "tenant"):
            if not hasattr(record, key):
                setattr(record, key, context.get(key, ""))
        return True


class JsonFormatter(_JsonFormatter):
    """UTC ISO-8601 times; records that are not for JSON (a Django request object) dropped."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's API
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        # Django attaches the request and the socket to some records: not log content.
        for key in ("request", "server_time", "status_code"):
            log_record.pop(key, None)
