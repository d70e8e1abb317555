"""What the processes print: each log line once, whatever the logger."""

import logging

import pytest


def console_handlers_reached(logger_name: str, level: int = logging.INFO) -> list[logging.Handler]:
    """The stream handlers a record of `logger_name` goes through, as logging.Logger.callHandlers
    walks them: up the hierarchy until a logger that does not propagate."""
    record = logging.LogRecord(logger_name, level, __file__, 1, "message", None, None)
    reached = []
    logger: logging.Logger | None = logging.getLogger(logger_name)
    while logger is not None:
        for handler in logger.handlers:
            if (
                # Exactly StreamHandler: pytest's capturing handlers subclass it.
                type(handler) is logging.StreamHandler
                and record.levelno >= handler.level
                and handler.filter(record)
            ):
                reached.append(handler)
        logger = logger.parent if logger.propagate else None
    return reached


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("name", ["django.tasks", "django.request", "django_tasks_db", "crm"])
def test_each_log_line_is_printed_once(settings, debug, name):
    settings.DEBUG = debug  # Django's own console handler prints only while DEBUG is on
    assert len(console_handlers_reached(name, logging.ERROR)) == 1
