"""config.logs: what reaches the log, and what never does."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from config.logs import configure_logging, mask, mask_text, scrub_text, wants_json
from config.settings import LogSettings, load_settings

REPO = Path(__file__).resolve().parents[2]


def _json_lines(**settings: Any) -> tuple[io.StringIO, structlog.stdlib.BoundLogger]:
    out = io.StringIO()
    configure_logging(LogSettings(**{"format": "json", **settings}), service="sms-gateway",
                      stream=out)
    return out, structlog.get_logger("test")


def _events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("37129123456", "3712912****"),
        ("29123456", "2912****"),
        ("+37129123456", "+3712912****"),
        ("123", "***"),
    ],
)
def test_mask_hides_the_last_four_digits(number: str, masked: str) -> None:
    assert mask(number) == masked


def test_json_line_has_timestamp_level_service_event() -> None:
    out, log = _json_lines()
    log.info("bound", host="10.0.0.5")
    (event,) = _events(out)
    assert event["event"] == "bound"
    assert event["level"] == "info"
    assert event["service"] == "sms-gateway"
    assert event["host"] == "10.0.0.5"
    assert event["timestamp"].endswith("Z")  # ISO 8601, UTC
    assert list(event)[:4] == ["timestamp", "level", "service", "event"]


def test_one_line_per_event_even_with_newlines_in_values() -> None:
    out, log = _json_lines()
    log.info("text received", text="VIETA\nSTOP")
    log.info("second")
    assert len(out.getvalue().splitlines()) == 2


def test_bound_correlation_id_appears_in_every_event_including_stdlib() -> None:
    out, log = _json_lines()
    structlog.contextvars.bind_contextvars(correlation_id="c0ffee")
    log.info("deliver_sm accepted")
    logging.getLogger("rq.worker").info("job %s done", "j1")
    structlog.contextvars.clear_contextvars()
    log.info("unrelated")
    events = _events(out)
    assert [e.get("correlation_id") for e in events] == ["c0ffee", "c0ffee", None]
    assert events[1]["event"] == "job j1 done"
    assert events[1]["logger"] == "rq.worker"
    assert events[1]["service"] == "sms-gateway"


def test_numbers_in_named_fields_are_masked() -> None:
    out, log = _json_lines()
    log.info("submit_sm", msisdn="37129123456", source_addr="29307777",
             destination_addr="37129123456", number=37129123456)
    (event,) = _events(out)
    assert event["msisdn"] == "3712912****"
    assert event["source_addr"] == "2930****"
    assert event["destination_addr"] == "3712912****"
    assert event["number"] == "3712912****"


def test_alphanumeric_sender_is_not_a_number_and_is_kept() -> None:
    out, log = _json_lines()
    log.info("loop dropped", source_addr="LMT")
    assert _events(out)[0]["source_addr"] == "LMT"


def test_numbers_in_free_text_and_nested_values_are_masked() -> None:
    out, log = _json_lines()
    log.info("text from 37129123456 about 29123456",
             smsc={"source_addr": "37129123456", "note": "to +37129123456"},
             parts=["29123456"])
    logging.getLogger("smpp.Client.1").warning("deliver_sm from %s", "37129123456")
    text = out.getvalue()
    assert "29123456" not in text
    assert "37129123456" not in text
    first, second = _events(out)
    assert first["event"] == "text from 3712912**** about 2912****"
    assert first["smsc"] == {"source_addr": "3712912****", "note": "to +3712912****"}
    assert first["parts"] == ["2912****"]
    assert second["event"] == "deliver_sm from 3712912****"


@pytest.mark.parametrize(
    "text",
    [
        "seq 1234567 of 12345678901234567890",  # too short, too long
        "2026-11-24T20:01:02Z",  # dates are not numbers
        "sequence 412345678",  # starts with neither 371 nor 2
        "job 4f29123456a1 done",  # inside a hex id
    ],
)
def test_digit_runs_that_are_not_latvian_numbers_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_masking_can_be_turned_off() -> None:
    out, log = _json_lines(mask_msisdn=False)
    log.info("text from 37129123456", msisdn="37129123456")
    (event,) = _events(out)
    assert event["msisdn"] == "37129123456"
    assert event["event"] == "text from 37129123456"


def test_password_in_a_url_never_appears() -> None:
    out, log = _json_lines(mask_msisdn=False)
    log.info("connecting", url="postgresql+psycopg://gw:Tr0ub4dor@db.example:5432/consents")
    log.warning("redis down: redis://:Tr0ub4dor@10.0.0.7:6379/0 refused")
    logging.getLogger("sqlalchemy.engine").error("cannot reach %s",
                                                 "postgresql://gw:Tr0ub4dor@db/x")
    assert "Tr0ub4dor" not in out.getvalue()
    events = _events(out)
    assert events[0]["url"] == "postgresql+psycopg://gw:***@db.example:5432/consents"
    assert events[1]["event"] == "redis down: redis://:***@10.0.0.7:6379/0 refused"
    assert events[2]["event"] == "cannot reach postgresql://gw:***@db/x"


def test_a_password_containing_at_sign_is_hidden_whole() -> None:
    assert scrub_text("postgresql://gw:p@ss@db/x?a=b@c") == "postgresql://gw:***@db/x?a=b@c"


def test_password_in_an_exception_traceback_never_appears() -> None:
    out, log = _json_lines()
    try:
        raise ConnectionError("cannot connect to redis://u:Tr0ub4dor@10.0.0.7/0 for 37129123456")
    except ConnectionError:
        log.exception("enqueue failed")
    text = out.getvalue()
    assert "Tr0ub4dor" not in text
    assert "37129123456" not in text
    assert "ConnectionError: cannot connect to redis://u:***@10.0.0.7/0" in _events(out)[0][
        "exception"]


def test_values_of_secret_keys_are_redacted_whatever_they_look_like() -> None:
    out, log = _json_lines()
    log.info("bind", password="hunter22", smpp_password="x", secret="s", api_token="t",
             config={"redis": {"password": "nested"}})
    (event,) = _events(out)
    assert event["password"] == event["smpp_password"] == "***"
    assert event["secret"] == event["api_token"] == "***"
    assert event["config"] == {"redis": {"password": "***"}}


def test_given_secret_literals_are_redacted_anywhere() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(format="json"), service="sms-gateway", stream=out,
                      secrets=["pw4smsc"])
    structlog.get_logger().error("bind refused", detail="system_id consentgw pw4smsc")
    logging.getLogger("gateway").error("bind with pw4smsc failed")
    assert "pw4smsc" not in out.getvalue()


def test_settings_secrets_render_as_stars() -> None:
    settings = load_settings(None)
    out, log = _json_lines()
    log.info("settings", smpp_pw=settings.smpp.password, db=settings.database.url)
    assert settings.smpp.password.get_secret_value() not in out.getvalue()


def test_smpplib_pdu_hex_dumps_stay_out_even_at_debug() -> None:
    # smpplib logs each PDU as hex at DEBUG; a bind PDU holds the password.
    out, _ = _json_lines(level="debug")
    # Importing rq (any earlier test may have) pins the rq.worker level; let it inherit.
    logging.getLogger("rq.worker").setLevel(logging.NOTSET)
    logging.getLogger("smpp.Client.140000").debug(">>%s (%d bytes)", "0000002f00000009", 47)
    logging.getLogger("smpp.Client.140000").info("Connecting to %s:%s...", "10.0.0.5", 2775)
    logging.getLogger("rq.worker").debug("kept")
    assert [e["event"] for e in _events(out)] == ["Connecting to 10.0.0.5:2775...", "kept"]


def test_level_from_settings_filters_structlog_and_stdlib() -> None:
    out, log = _json_lines(level="warning")
    log.info("dropped")
    logging.getLogger("rq").info("dropped too")
    log.warning("kept")
    assert [e["event"] for e in _events(out)] == ["kept"]


def test_console_format_is_not_json() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(format="console"), service="sms-gateway", stream=out)
    structlog.get_logger().info("bound", msisdn="37129123456")
    line = out.getvalue()
    assert "bound" in line
    assert "3712912****" in line
    assert "\x1b[" not in line  # no colour codes when the stream is no terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_picks_console_on_a_terminal_and_json_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert wants_json("auto", io.StringIO())
    assert not wants_json("auto", _Tty())
    assert wants_json("json", _Tty())
    assert not wants_json("console", io.StringIO())
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    assert wants_json("auto", _Tty())


def test_console_on_a_terminal_is_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = _Tty()
    configure_logging(LogSettings(format="auto"), service="sms-gateway", stream=out)
    structlog.get_logger().info("bound")
    assert "\x1b[" in out.getvalue()


def test_a_process_under_a_pipe_writes_json_to_stderr() -> None:
    # What systemd sees: stderr is not a terminal, format "auto" (the default).
    code = (
        "import logging, structlog\n"
        "from config.logs import configure_logging\n"
        "from config.settings import LogSettings\n"
        "configure_logging(LogSettings(), service='consent-worker')\n"
        "structlog.get_logger().info('started', msisdn='37129123456')\n"
        "logging.getLogger('rq.worker').warning('stdlib too')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout == ""
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["service"], e["event"]) for e in events] == [
        ("consent-worker", "started"), ("consent-worker", "stdlib too")]
    assert events[0]["msisdn"] == "3712912****"


def test_configuring_again_replaces_the_previous_set_up() -> None:
    first, log = _json_lines()
    log.info("one")
    second, log = _json_lines()
    log.info("two")
    logging.getLogger("rq").info("three")
    assert [e["event"] for e in _events(first)] == ["one"]
    assert [e["event"] for e in _events(second)] == ["two", "three"]
