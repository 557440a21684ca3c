"""eligibility: client group and independence against the catalog's consents."""

from __future__ import annotations

import pytest

from consent_core.catalog import Catalog, load_catalog
from consent_core.eligibility import Subscriber, eligibility
from consent_core.model import CONSENTS, Eligibility

ALLOWED = Eligibility.ALLOWED
NOT_LMT = Eligibility.NOT_LMT_CLIENT
NOT_INDEP = Eligibility.NOT_INDEPENDENT
LMT = Subscriber("37129123456", "lmt")
OTHER = Subscriber("37126000000", "other")
LMT_MINOR = Subscriber("37129000001", "lmt", independent=False)
OTHER_MINOR = Subscriber("37126000001", "other", independent=False)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize(
    ("subscriber", "expected"),
    [
        # (subscriber, {consent: eligibility} in CONSENTS order)
        (LMT, (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED)),
        (OTHER, (ALLOWED, NOT_LMT, NOT_LMT, NOT_LMT, NOT_LMT)),
        (None, (ALLOWED, NOT_LMT, NOT_LMT, NOT_LMT, NOT_LMT)),  # unknown numbers are "other"
        (LMT_MINOR, (NOT_INDEP,) * 5),
        (OTHER_MINOR, (NOT_INDEP,) * 5),  # independence is checked first
    ],
)
def test_eligibility_table(
    catalog: Catalog, subscriber: Subscriber | None, expected: tuple[Eligibility, ...]
) -> None:
    assert tuple(eligibility(subscriber, c, catalog) for c in CONSENTS) == expected


def test_unknown_consent_is_a_caller_bug(catalog: Catalog) -> None:
    with pytest.raises(KeyError):
        eligibility(LMT, "REKLAMA", catalog)


def test_subscriber_refuses_unknown_group() -> None:
    with pytest.raises(ValueError, match="client_group"):
        Subscriber("37129123456", "gold")
    assert Subscriber("37129123456", "lmt").independent is True
