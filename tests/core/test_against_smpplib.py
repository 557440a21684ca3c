"""Our GSM 03.38 tables and decoder checked against an independent peer: smpplib's encoder
(the library the gateway binds with), which many SMSC simulators and ESMEs share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_core import gsm0338
from consent_core.concat import Reassembler
from consent_core.decode import Decoded, decode_text

smpplib_gsm = pytest.importorskip("smpplib.gsm")

# smpplib (2.2.x) puts "`" at septet 0x5F where TS 23.038 §6.2.1 has "§"; "`" is not in the
# default alphabet at all. Everything else agrees.
_SMPPLIB_DIFFERS = {"§"}
_BASIC_CHARS = [gsm0338.decode_unpacked(bytes([code]))[0] for code in range(128) if code != gsm0338.ESC]


@pytest.mark.parametrize("ch", [c for c in _BASIC_CHARS if c not in _SMPPLIB_DIFFERS])
def test_basic_table_agrees_with_smpplib(ch: str) -> None:
    assert smpplib_gsm.gsm_encode(ch) == gsm0338.encode_unpacked(ch)


@pytest.mark.parametrize("ch", list("€[]{}\\^~|"))
def test_extension_table_agrees_with_smpplib(ch: str) -> None:
    assert smpplib_gsm.gsm_encode(ch) == gsm0338.encode_unpacked(ch)


def test_known_smpplib_difference_at_0x5f() -> None:
    assert smpplib_gsm.gsm_encode("`") == b"\x5f"
    assert gsm0338.decode_unpacked(b"\x5f")[0] == "§"


def _decode_smpplib_parts(text: str, encoding: int) -> str:
    parts, data_coding, esm_class = smpplib_gsm.make_parts(text, encoding=encoding)
    reassembler = Reassembler()
    whole: str | None = None
    for part in parts:
        result = decode_text(part, data_coding, esm_class=esm_class)
        assert isinstance(result, Decoded), result
        if result.concat is None:
            return result.text
        whole = reassembler.add("37129123456", result.concat, result.text, now=0.0)
    assert whole is not None
    return whole


# smpplib splits at fixed octet counts (its FIXMEs say so), so only texts whose characters
# are one septet / one UCS2 code unit can be checked across parts.
@given(st.text(alphabet=st.sampled_from([c for c in _BASIC_CHARS if c != "§"]), max_size=400))
def test_we_read_what_smpplib_writes_in_gsm(text: str) -> None:
    assert _decode_smpplib_parts(text, 0) == text


@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF, codec="utf-8"), max_size=300))
def test_we_read_what_smpplib_writes_in_ucs2(text: str) -> None:
    assert _decode_smpplib_parts(text, 8) == text
