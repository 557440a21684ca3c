"""Reassembler: completion in any order, duplicates, timeouts, bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consent_core.concat import Concat, Reassembler

A = "37129123456"
B = "37129999999"


def test_parts_in_any_order_complete_the_text() -> None:
    r = Reassembler()
    assert r.add(A, Concat(7, 3, 3), "C", now=0) is None
    assert r.add(A, Concat(7, 3, 1), "A", now=1) is None
    assert len(r) == 1
    assert r.add(A, Concat(7, 3, 2), "B", now=2) == "ABC"
    assert len(r) == 0


def test_single_part_set_and_nonsense_numbers_pass_straight_through() -> None:
    r = Reassembler()
    assert r.add(A, Concat(1, 1, 1), "VIETA", now=0) == "VIETA"
    assert r.add(A, Concat(1, 2, 3), "X", now=0) == "X"
    assert r.add(A, Concat(1, 2, 0), "Y", now=0) == "Y"
    assert len(r) == 0


def test_redelivered_part_keeps_the_first_copy() -> None:
    r = Reassembler()
    assert r.add(A, Concat(9, 2, 1), "VIE", now=0) is None
    assert r.add(A, Concat(9, 2, 1), "XXX", now=0) is None
    assert r.add(A, Concat(9, 2, 2), "TA", now=0) == "VIETA"


def test_sets_are_kept_apart_by_sender_reference_and_total() -> None:
    r = Reassembler()
    assert r.add(A, Concat(1, 2, 1), "a1", now=0) is None
    assert r.add(B, Concat(1, 2, 1), "b1", now=0) is None
    assert r.add(A, Concat(2, 2, 1), "c1", now=0) is None
    assert r.add(A, Concat(1, 3, 1), "d1", now=0) is None
    assert r.add(B, Concat(1, 2, 2), "b2", now=0) == "b1b2"
    assert r.add(A, Concat(1, 2, 2), "a2", now=0) == "a1a2"
    assert len(r) == 2


def test_expire_gives_up_after_the_timeout_and_reports_what_arrived() -> None:
    r = Reassembler(timeout=60)
    r.add(A, Concat(4, 3, 1), "JAU", now=100)
    r.add(A, Concat(4, 3, 3), "MI", now=101)
    r.add(B, Concat(5, 2, 1), "x", now=130)
    assert r.expire(now=159.9) == []
    gone = r.expire(now=160)
    assert len(gone) == 1
    (incomplete,) = gone
    assert (incomplete.msisdn, incomplete.ref, incomplete.total) == (A, 4, 3)
    assert incomplete.parts == ((1, "JAU"), (3, "MI"))
    assert incomplete.text == "JAUMI"
    assert incomplete.reason == "timeout"
    assert len(r) == 1
    # A late part of an expired set starts a new set rather than completing anything.
    assert r.add(A, Concat(4, 3, 2), "NU", now=161) is None


def test_memory_is_bounded_and_evicted_sets_are_reported() -> None:
    r = Reassembler(max_pending=2)
    r.add(A, Concat(1, 2, 1), "first", now=0)
    r.add(A, Concat(2, 2, 1), "second", now=1)
    r.add(A, Concat(3, 2, 1), "third", now=2)
    assert len(r) == 2
    gone = r.expire(now=3)
    assert [(g.ref, g.reason) for g in gone] == [(1, "evicted")]
    assert r.expire(now=3) == []


@given(
    total=st.integers(2, 12),
    order=st.randoms(use_true_random=False),
    dupes=st.lists(st.integers(1, 12), max_size=5),
)
def test_any_arrival_order_with_duplicates_completes_exactly_once(
    total: int, order: object, dupes: list[int]
) -> None:
    import random

    assert isinstance(order, random.Random)
    seqs = list(range(1, total + 1)) + [d for d in dupes if d <= total]
    order.shuffle(seqs)
    r = Reassembler()
    results = [r.add(A, Concat(77, total, s), f"<{s}>", now=0) for s in seqs]
    completed = [x for x in results if x is not None]
    expected = "".join(f"<{s}>" for s in range(1, total + 1))
    # Completion happens when the last distinct part arrives; a later duplicate starts a
    # new (incomplete) set, which expire() will report.
    assert completed[0] == expected
    assert all(x == expected for x in completed)


def test_same_reference_with_other_total_or_width_is_another_set() -> None:
    r = Reassembler(timeout=60)
    assert r.add("371", Concat(5, 2, 1), "A", 0) is None
    assert r.add("371", Concat(5, 3, 1), "X", 0) is None  # same ref, other total
    assert r.add("371", Concat(5, 2, 1, ref_bits=16), "Q", 0) is None  # same ref, 16-bit
    assert r.add("371", Concat(5, 2, 2), "B", 0) == "AB"
    assert len(r) == 2


def test_surrogate_pair_split_across_parts_decodes() -> None:
    from consent_core.decode import Decoded, decode_text

    octets = "ok 👍".encode("utf-16-be")  # the emoji is a surrogate pair: d83d dc4d
    first, second = octets[:-2], octets[-2:]
    udh = lambda seq: bytes([5, 0x00, 3, 9, 2, seq])  # noqa: E731
    a = decode_text(udh(1) + first, 8, esm_class=0x40)
    b = decode_text(udh(2) + second, 8, esm_class=0x40)
    assert isinstance(a, Decoded) and isinstance(b, Decoded) and a.concat and b.concat
    r = Reassembler(timeout=60)
    assert r.add("371", a.concat, a.text, 0) is None
    assert r.add("371", b.concat, b.text, 0) == "ok 👍"
    # Only one half ever came: the text is still readable, the half is U+FFFD.
    r.add("372", a.concat, a.text, 0)
    [inc] = r.expire(100)
    assert inc.text == "ok \ufffd"
    # A lone surrogate inside a part (not at its edge) is still an error.
    bad = decode_text(udh(1) + b"\xd8\x3d\x00A", 8, esm_class=0x40)
    assert not isinstance(bad, Decoded)
