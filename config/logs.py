"""Logging for every console command: structlog configured once at start-up.

One JSON object per line for journald (or any non-terminal), a coloured console on a
terminal; phone numbers masked and credentials scrubbed in every line, including the
lines of stdlib loggers (rq, smpplib, SQLAlchemy), which go through the same renderer.

Entry points call ``configure_logging(settings.log, service="sms-gateway")`` once, then
use ``structlog.get_logger()``; ``structlog.contextvars.bind_contextvars(correlation_id=…)``
makes the id appear in every event logged while it is bound.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from config.settings import LogSettings

# The one masking rule (``37129123456`` → ``3712912****``) lives with the other number
# rules in the core; consent_core.msisdn imports nothing of ours, so this adds no cycle.
from consent_core.msisdn import mask

__all__ = [
    "MSISDN_KEYS",
    "SECRET_KEYS",
    "configure_logging",
    "mask",
    "mask_text",
    "scrub_text",
    "wants_json",
]

# Fields whose whole value is a phone number. SMPP 3.4 §4.7.1 names the two addresses
# source_addr and destination_addr; the rest of the code calls a number ``msisdn``.
MSISDN_KEYS = frozenset({"msisdn", "source_addr", "destination_addr", "number"})

# Fields whose value is a credential and is never shown, whatever it looks like. A key
# matches when it is one of these or ends in ``_<one of these>`` (``smpp_password``).
SECRET_KEYS = frozenset({"password", "secret", "token"})

# Identifiers people grep for; a digit run inside one is not a phone number.
_NOT_FREE_TEXT = frozenset(
    {"correlation_id", "event_id", "timestamp", "level", "logger", "service"}
)

# A phone number in free text: a run of 8–15 digits (E.164 allows at most 15) that
# starts with 371 (Latvia's country code) or 2 (Latvian mobile numbers, national form),
# standing on its own: not part of a longer run, nor of a hex id such as a job's UUID.
_MSISDN_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:371\d{5,12}|2\d{7,14})(?![0-9A-Za-z])")

# ``scheme://user:PASSWORD@host``. The password runs to the last ``@`` before the path,
# whitespace or a quote, so an unescaped ``@`` inside it does not leave its tail showing.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<password>[^\s/'\"]*)@"
)

_REDACTED = "***"


def mask_text(text: str) -> str:
    """Every phone-number-like digit run in ``text`` masked with ``mask``."""
    return _MSISDN_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with URL passwords and the given literal secrets replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + _REDACTED + "@", text)
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in SECRET_KEYS or any(k.endswith("_" + s) for s in SECRET_KEYS)


def _mask_number_field(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return value
    digits = value.removeprefix("+")
    if digits.isdigit():
        return mask(value)
    # Alphanumeric sender ids ("LMT") are not personal data; anything else is searched.
    return mask_text(value)


class _Cleaner:
    """Processor: scrubs credentials and (when asked) masks numbers, in nested values too."""

    def __init__(self, *, mask_msisdn: bool, secrets: Iterable[str]) -> None:
        self._mask = mask_msisdn
        # A very short secret would blank out ordinary words; SMPP passwords are at
        # most 8 characters (SMPP 3.4 §4.1.1), so the floor is low on purpose.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        return {k: self._value(k, v) for k, v in event_dict.items()}

    def _value(self, key: str, value: Any) -> Any:
        if _is_secret_key(key):
            return _REDACTED if value else value
        if self._mask and key in MSISDN_KEYS:
            return _mask_number_field(value)
        if key in _NOT_FREE_TEXT:
            return value
        return self._free(value)

    def _free(self, value: Any) -> Any:
        if isinstance(value, str):
            value = scrub_text(value, self._secrets)
            return mask_text(value) if self._mask else value
        if isinstance(value, Mapping):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._free(v) for v in value]
        if isinstance(value, bytes | bytearray):
            return self._free(value.decode("utf-8", "backslashreplace"))
        if value is None or isinstance(value, bool | int | float):
            return value
        # Exceptions, paths, SecretStr (renders as ********), anything else: as text.
        return self._free(str(value))


def wants_json(fmt: str, stream: TextIO) -> bool:
    """``json``/``console`` as configured; ``auto``: JSON unless writing to a terminal.

    Under systemd stdout/stderr are the journal (``$JOURNAL_STREAM`` is set, and the
    stream is no TTY); colour codes would end up in the journal as binary noise.
    """
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    if os.environ.get("JOURNAL_STREAM"):
        return True
    return not _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def _add_service(service: str) -> Processor:
    def add_service(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


# Both structlog's own events and stdlib records pass through these before rendering.
_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


_FIRST_KEYS = ("timestamp", "level", "service", "event")


def _first_keys_first(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    # A person reading ``journalctl -o cat`` sees when, how bad, who and what first.
    head = {k: event_dict[k] for k in _FIRST_KEYS if k in event_dict}
    return head | {k: v for k, v in event_dict.items() if k not in head}


def configure_logging(
    settings: LogSettings,
    *,
    service: str,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Route structlog and stdlib logging to ``stream`` (default stderr), one line per event.

    Call once at start-up; calling again replaces the previous set-up (tests do).
    ``secrets``: literal values (the SMPP password, say) to redact wherever they occur.
    """
    stream = sys.stderr if stream is None else stream
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    as_json = wants_json(settings.format, stream)

    renderer: Processor
    if as_json:
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(stream))

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            # Tracebacks become text *before* cleaning, so a URL or a number in an
            # exception message is scrubbed too; on a terminal this costs the pretty
            # traceback, which is the right trade for an operator's screen.
            structlog.processors.format_exc_info,
            _Cleaner(mask_msisdn=settings.mask_msisdn, secrets=secrets),
            _first_keys_first,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # smpplib logs every PDU as hex at DEBUG: bind PDUs carry the password and
    # deliver_sm the numbers, in a form no mask can see. Its loggers are named
    # "smpp.Client.<id>" unless the gateway names them; keep them under "smpp".
    logging.getLogger("smpp").setLevel(max(level, logging.INFO))
    logging.captureWarnings(True)

    # Everything that depends on settings lives in the handler above, so loggers that
    # structlog cached before a reconfiguration still end up in the right place.
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
