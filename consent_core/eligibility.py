"""Who may give which consent: the subscriber's client group and independence vs the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from consent_core.catalog import Catalog
from consent_core.model import CLIENT_GROUPS, Eligibility


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A directory entry (SPEC §7 `consentctl subscribers import`)."""

    msisdn: str
    client_group: str  # "lmt" or "other"
    independent: bool = True

    def __post_init__(self) -> None:
        if self.client_group not in CLIENT_GROUPS:
            raise ValueError(f"client_group {self.client_group!r} is not one of {sorted(CLIENT_GROUPS)}")


def eligibility(subscriber: Subscriber | None, consent: str, catalog: Catalog) -> Eligibility:
    """May this subscriber give ``consent``?

    A number not in the directory is a client of another operator (`other`) who can act
    independently: the directory lists LMT's own lines, and the seed opens JAUNUMI to
    "LMT un citu komersantu klienti". Independence is checked first (seed: consents are for
    persons who can act independently; a parent or guardian must contact LMT), so a minor's
    line gets that answer whatever the consent. Raises ``KeyError`` for a consent the
    catalog does not define (a caller bug: parse only yields catalog keywords).
    """
    definition = catalog.consents.get(consent)
    if definition is None:
        raise KeyError(f"consent {consent!r} is not in the catalog")
    group = "other" if subscriber is None else subscriber.client_group
    independent = True if subscriber is None else subscriber.independent
    if not independent:
        return Eligibility.NOT_INDEPENDENT
    if group not in definition.groups:
        return Eligibility.NOT_LMT_CLIENT
    return Eligibility.ALLOWED
