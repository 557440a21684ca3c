"""The console's display rules and the API's reading of instants, as tables (no I/O)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_api.display import local_time, neutralise
from consent_api.instants import NotAnInstant, read_instant

RIGA = ZoneInfo("Europe/Riga")


@pytest.mark.parametrize(("text", "shown"), [
    ("VIETA STOP", "VIETA STOP"),
    ("Sadarbība", "Sadarbība"),
    ("\x1b[31mred", "[U+001B][31mred"),
    ("VIETA\u202eSTOP", "VIETA[U+202E]STOP"),
    ("a\u2066b\u2069c", "a[U+2066]b[U+2069]c"),
    ("zero\u200bwidth", "zero[U+200B]width"),
    ("bell\x07", "bell[U+0007]"),
    ("two\nlines\ttab", "two\nlines\ttab"),
    ("\x85next line", "[U+0085]next line"),
    ("line\u2028separator", "line[U+2028]separator"),
])
def test_neutralise_shows_controls_and_bidi_as_code_points(text: str, shown: str) -> None:
    assert neutralise(text) == shown


@given(st.text())
def test_neutralised_text_has_no_control_or_bidi_character_left(text: str) -> None:
    out = neutralise(text)
    assert isinstance(out, str)
    assert [ch for ch in out if ch not in "\n\t" and
            unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")] == []


@pytest.mark.parametrize(("instant", "shown"), [
    (datetime(2026, 12, 7, 4, 20, 53, 505564, tzinfo=UTC), "07.12.2026 06:20:53 EET"),
    (datetime(2026, 7, 1, 21, 0, 0, tzinfo=UTC), "02.07.2026 00:00:00 EEST"),
    ("2026-03-29T00:59:59Z", "29.03.2026 02:59:59 EET"),   # the spring change at 01:00 UTC
    ("2026-03-29T01:00:00Z", "29.03.2026 04:00:00 EEST"),
    (None, ""),
])
def test_local_time_is_riga_time_with_its_zone(instant: datetime | str | None, shown: str) -> None:
    assert local_time(instant, RIGA) == shown


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-11-24T20:01:02Z", datetime(2026, 11, 24, 20, 1, 2, tzinfo=UTC)),
    ("2026-11-24t20:01:02z", datetime(2026, 11, 24, 20, 1, 2, tzinfo=UTC)),
    ("2026-11-24 22:01:02+02:00", datetime(2026, 11, 24, 20, 1, 2, tzinfo=UTC)),
    ("2026-11-24T20:01", datetime(2026, 11, 24, 20, 1, tzinfo=UTC)),
    ("2026-11-24T20:01:02.5Z", datetime(2026, 11, 24, 20, 1, 2, 500000, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
])
def test_read_instant_takes_iso_8601(text: str, utc: datetime) -> None:
    assert read_instant(text) == utc


@pytest.mark.parametrize("text", [
    "-309", "1700000000", "2026", "2026-11-24", "²⁰²⁶-11-24T20:01:02Z", "2026-13-01T00:00:00Z",
    "2026-11-24T20:01:02+25:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "2026-11-24T20:01:02Z trailing", "",
])
def test_read_instant_refuses_what_is_not_an_instant(text: str) -> None:
    with pytest.raises(NotAnInstant):
        read_instant(text)


@pytest.mark.parametrize("lang", ["lv", "en"])
def test_every_outcome_has_console_words_in_both_languages(lang: str) -> None:
    from consent_api.i18n import translator
    from consent_core.model import Outcome

    t = translator(lang)
    assert [o.value for o in Outcome if not t.get(f"o_{o.value}")] == []
