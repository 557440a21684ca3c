"""The bulk may-use read on PostgreSQL probes the primary key once per pair, whatever the
size of the table (a row-value IN over the pairs was planned as a scan: issue 30)."""

from __future__ import annotations

import sqlalchemy as sa

from consent_store import api_reads
from consent_store.engine import make_engine, upgrade


def test_bulk_statuses_use_the_primary_key_not_a_scan(postgres_url: str) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO consent_state (msisdn, consent, status, since, channel) "
                "SELECT '3712' || lpad(i::text, 7, '0'), c, 'given', now(), 'sms' "
                "FROM generate_series(0, 49999) AS i, unnest(ARRAY['JAUNUMI', 'VIETA']) AS c"))
            conn.execute(sa.text("ANALYZE consent_state"))
        pairs = [(f"3712{i:07d}", "VIETA") for i in range(0, 50000, 50)]
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            plan = "\n".join(r[0] for r in raw.execute(
                "EXPLAIN " + api_reads.STATUSES_PG,
                ([m for m, _ in pairs], [c for _, c in pairs])))
            found = api_reads.statuses(conn, [*pairs, ("37129999999", "VIETA")])
    finally:
        engine.dispose()
    assert "Seq Scan on consent_state" not in plan, plan
    assert "pk_consent_state" in plan, plan
    assert len(found) == len(pairs)
    assert {v[0] for v in found.values()} == {"given"}
