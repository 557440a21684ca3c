import redis
import sqlalchemy as sa


def test_redis_fixture_is_real_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert "redis_version" in client.info("server")


def test_postgres_fixture_is_real_postgresql(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        assert "PostgreSQL" in conn.execute(sa.text("select version()")).scalar_one()
    engine.dispose()
