"""The one backoff: doubling from ``first`` up to ``cap``, within ±jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_core.backoff import backoff


@pytest.mark.parametrize(("attempt", "expected"), [
    (0, 5.0), (1, 10.0), (2, 20.0), (9, 2560.0), (10, 3600.0), (50, 3600.0), (-3, 5.0)])
def test_without_jitter_the_wait_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff(attempt, 5.0, 3600.0, jitter=0.0) == expected


@given(attempt=st.integers(0, 10_000), first=st.floats(0.01, 100), cap=st.floats(0.01, 1e5),
       seed=st.integers(0, 2**32))
def test_the_wait_stays_within_the_jitter_of_its_base(attempt: int, first: float, cap: float,
                                                      seed: int) -> None:
    base = min(cap, first * 2 ** min(attempt, 40))
    wait = backoff(attempt, first, cap, rand=random.Random(seed))
    assert 0.8 * base <= wait <= 1.2 * base
