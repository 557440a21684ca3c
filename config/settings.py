"""Gateway settings: one TOML file, overridden by ``SMSGW_<SECTION>__<KEY>`` variables.

Settings are loaded once at an entry point into a frozen object and passed down.
A bad value stops start-up with one line naming the key (``ConfigError``).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("/etc/sms-gateway/gateway.toml")
ENV_PREFIX = "SMSGW_"
# Keys that were once settings and are read no more: a file that still has one starts, with
# one line on stderr saying it can go (the shipped example had it).
RETIRED_KEYS = {
    ("queue", "retry_intervals"): "never read: the worker retries inside a job, with backoff",
}


class ConfigError(Exception):
    """A configuration problem, phrased as one line an operator can act on."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SmppSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field("consentgw", min_length=1, max_length=15)  # SMPP 3.4 §4.1.1: C-Octet 16
    password: SecretStr = Field(SecretStr("secret"))
    system_type: str = Field("", max_length=12)
    short_number: str = Field("29307777", pattern=r"^[0-9]{3,15}$")
    bind_mode: Literal["transceiver", "receiver_transmitter"] = "transceiver"
    enquire_link_interval: float = Field(30.0, gt=0, le=3600)  # Kannel's default is 30 s
    response_timeout: float = Field(10.0, gt=0, le=600)
    reconnect_min: float = Field(1.0, gt=0, le=600)
    reconnect_max: float = Field(60.0, gt=0, le=3600)
    bind_refused_delay: float = Field(60.0, gt=0, le=3600)
    temporary_error_status: int = Field(0x64, ge=1, le=0xFFFFFFFF)  # ESME_RX_T_APPN
    submit_window: int = Field(10, ge=1, le=1000)  # Kannel max-pending-submits: 10
    submit_rate: float = Field(0.0, ge=0)  # submit_sm per second; 0 = unlimited
    throttle_pause: float = Field(1.0, ge=0, le=600)  # Kannel pauses 1 s after ESME_RTHROTTLED
    registered_delivery: bool = True
    max_submit_attempts: int = Field(10, ge=1, le=1000)
    # submit_sm_resp deadline, and what to do when it passes: "rebind" recycles the link
    # (the part goes out again on the new bind), "resubmit" sends the part again on this one.
    submit_timeout: float = Field(10.0, gt=0, le=600)
    submit_timeout_action: Literal["rebind", "resubmit"] = "rebind"
    # Numbers a text may be addressed to besides short_number (other forms, aliases).
    accepted_destinations: list[str] = []
    # deliver_sm_resp status for a text addressed to a number not ours: 0 acknowledges and
    # drops it (redelivering it would not help); e.g. 0x0B (ESME_RINVDSTADR) refuses it.
    wrong_destination_status: int = Field(0x00, ge=0, le=0xFFFFFFFF)

    @field_validator("password")
    @classmethod
    def _password_fits(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) > 8:
            # SMPP 3.4 §4.1.1: password is a C-Octet String of at most 9 octets.
            raise ValueError("SMPP 3.4 allows at most 8 characters")
        return value


class GatewaySettings(_Section):
    instance: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")  # "" = host name
    concat_timeout: float = Field(60.0, gt=0, le=3600)
    shutdown_timeout: float = Field(20.0, gt=0, le=600)
    max_pending_texts: int = Field(20000, ge=10)
    # Texts queued and not yet applied by a worker, all gateways together, beyond which a
    # deliver_sm gets the temporary error (the SMSC holds it and retries). 0 = no bound.
    max_backlog: int = Field(5000, ge=0)
    # /healthz fails when replies are due and none was accepted by the SMSC for this long.
    reply_stall_timeout: float = Field(60.0, gt=0, le=3600)


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    socket_timeout: float = Field(2.0, gt=0, le=60)
    key_prefix: str = Field("smsgw", min_length=1)
    # Acknowledged texts live in Redis until a worker applies them: without AOF a restart
    # loses them, so every writer refuses to start unless this is explicitly turned off.
    require_persistence: bool = True
    persistence_check_interval: float = Field(30.0, gt=0, le=3600)
    # Redis Sentinel: when set, the primary of ``service_name`` is found through these and
    # followed across a failover; ``url`` then only gives the database number and password.
    sentinels: list[str] = []
    service_name: str = Field("smsgw", min_length=1)
    sentinel_password: SecretStr = SecretStr("")
    # WAIT for this many replicas to hold a batch before deliver_sm_resp 0 (0 = do not wait).
    min_replicas_ack: int = Field(0, ge=0, le=16)
    wait_timeout_ms: int = Field(200, ge=1, le=60000)

    @field_validator("sentinels")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for entry in value:
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{entry!r} is not host:port")
        return value


class DatabaseSettings(_Section):
    url: SecretStr = SecretStr("sqlite:///consents.db")
    pool_size: int = Field(5, ge=1, le=200)


class QueueSettings(_Section):
    name: str = Field("consent-events", min_length=1)
    shards: int = Field(1, ge=1, le=256)
    batch_max: int = Field(200, ge=1, le=10000)
    batch_wait_ms: float = Field(20.0, ge=0, le=1000)
    job_timeout: int = Field(60, ge=1, le=3600)
    retry_max: int = Field(5, ge=0, le=100)
    redelivery_window: int = Field(600, ge=1, le=86400)
    absorb_max_jobs: int = Field(20, ge=0, le=1000)


class LimitSettings(_Section):
    replies_per_minute: int = Field(20, ge=0)
    replies_per_day: int = Field(100, ge=0)


class ConsentSettings(_Section):
    catalog: str = ""  # empty: the catalog shipped with the package
    language: Literal["lv", "en"] = "lv"
    jaunumi_lapse_days: int = Field(183, ge=1, le=3650)  # seed: "more than six months"
    # How long a JĀ may follow a near-miss give it confirms (docs/commands.md).
    confirm_minutes: int = Field(10, ge=1, le=1440)


class DirectorySettings(_Section):
    """``consentctl subscribers sync`` (docs/store.md, "The directory")."""

    # A sync that would drop more than this share of the directory (numbers absent from
    # the file) is refused unless confirmed: a truncated export must not empty it.
    max_drop_share: float = Field(0.05, ge=0, le=1)
class LedgerSettings(_Section):
    """Signed checkpoints of the ledger's Merkle log (docs/store.md, "Merkle log")."""

    # Where checkpoints are written, outside the database ("" = none are published).
    digest_dir: str = ""
    # The Ed25519 private key (PEM, mode 0600) that signs them; `consentctl keygen PATH`.
    signing_key: str = ""
    # Seconds between checkpoints published by the worker (only when the ledger grew).
    digest_interval: float = Field(30.0, ge=1, le=86400)


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    mask_msisdn: bool = True


class MetricsSettings(_Section):
    gateway_port: int = Field(9464, ge=0, le=65535)  # 0 = off
    worker_port: int = Field(9465, ge=0, le=65535)
    bind: str = "127.0.0.1"


class ApiSettings(_Section):
    """``consent-api run``: the HTTP API and the customer-centre console (docs/api.md)."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)  # uvicorn worker processes
    change_wait: float = Field(5.0, ge=0, le=60)  # s a change waits for the worker, then 202
    idempotency_ttl: int = Field(86400, ge=60, le=30 * 86400)  # s an Idempotency-Key is kept
    rate_per_second: int = Field(200, ge=0)  # requests per token and second; 0 = unlimited
    bulk_max: int = Field(1000, ge=1, le=10000)  # queries in one POST /v1/may-use
    changes_wait_max: float = Field(30.0, ge=0, le=300)  # longest long-poll of /v1/changes
    changes_limit: int = Field(500, ge=1, le=10000)  # most changes in one feed page
    token_cache_ttl: float = Field(5.0, ge=0, le=300)  # s a token lookup is cached
    session_ttl: int = Field(8 * 3600, ge=60, le=7 * 86400)  # console sign-in lifetime
    cookie_secure: bool = False  # set true behind TLS termination (docs/operations.md)
    console_language: Literal["lv", "en"] = "lv"
    # Sign-in and failed-token budgets are per source address, never per name (docs/api.md).
    sign_in_attempts_per_minute: int = Field(10, ge=1, le=1000)  # per source address
    sign_in_concurrency: int = Field(2, ge=1, le=64)  # argon2 verifications at once
    auth_failures_per_minute: int = Field(30, ge=0)  # unknown tokens per source; 0 = no limit
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)  # before parsing
    console_timezone: str = "Europe/Riga"  # the console shows times in this zone (IANA name)
    console_page_size: int = Field(25, ge=1, le=1000)  # timeline rows per page

    @field_validator("console_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Riga)") from None
        return value


class WebhookSettings(_Section):
    """``consent-webhooks run``: pushing every consent change to subscribers (docs/api.md)."""

    poll_interval: float = Field(0.1, gt=0, le=60)  # s between looks at the feed
    timeout: float = Field(5.0, gt=0, le=300)  # s a receiver has to answer one event
    retry_first: float = Field(5.0, gt=0, le=3600)  # s before the first retry; doubles
    retry_max: float = Field(3600.0, gt=0, le=86400)  # longest wait between retries
    park_after: float = Field(86400.0, ge=3600, le=30 * 86400)  # s of failing, then parked
    batch: int = Field(100, ge=1, le=10000)  # events per subscription per round
    concurrency: int = Field(8, ge=1, le=256)  # subscriptions delivered at once
    metrics_port: int = Field(9480, ge=0, le=65535)  # /metrics (0 = off); workers use 9465+N


class Settings(BaseSettings):
    """All settings; frozen once loaded."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    smpp: SmppSettings = SmppSettings()
    gateway: GatewaySettings = GatewaySettings()
    redis: RedisSettings = RedisSettings()
    database: DatabaseSettings = DatabaseSettings()
    queue: QueueSettings = QueueSettings()
    limits: LimitSettings = LimitSettings()
    consent: ConsentSettings = ConsentSettings()
    directory: DirectorySettings = DirectorySettings()
    ledger: LedgerSettings = LedgerSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (passed as init kwargs); no dotenv, no secrets dir.
        return (env_settings, init_settings)

    def redacted(self) -> dict[str, Any]:
        """Settings as plain data with every secret replaced by ``***``.

        A secret URL keeps its scheme, host, port and database; only the password in it is
        masked (``redis://:***@10.0.0.5:6379/0``), so an operator can see where it points.
        """
        redacted: dict[str, Any] = _redact(self.model_dump(mode="python"))
        return redacted


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return mask_url(value.get_secret_value())
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    return value


_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(?P<pw>[^@]*)(?P<tail>@.*)$")


def mask_url(secret: str) -> str:
    """``secret`` with only its password masked: a URL keeps all but the password, any
    other secret (a plain password) becomes ``***``; an empty one stays empty."""
    if not secret:
        return ""
    if "://" not in secret:
        return "***"
    m = _URL_PASSWORD.match(secret)
    if m is None:
        return secret  # a URL without a password holds no secret
    return f"{m['head']}***{m['tail']}" if m["pw"] else secret


@dataclass(frozen=True)
class ConfigSource:
    """Where the settings came from: the file (and how it was chosen) and the ``SMSGW_*``
    variables read. ``sms-gateway check-config`` and ``consentctl check-config`` print it."""

    path: Path | None
    chosen_by: str  # "--config", "SMSGW_CONFIG", "default path" or "none"
    env: dict[str, str] = field(default_factory=dict)  # name -> value with secrets masked

    def lines(self) -> list[str]:
        out = [f"file: {self.path} (from {self.chosen_by})" if self.path
               else "file: none (environment only)"]
        if self.env:
            out.append("environment: " + ", ".join(f"{k}={v}" for k, v in sorted(self.env.items())))
        else:
            out.append("environment: no SMSGW_* variables set")
        return out


def config_path(explicit: str | None) -> Path:
    """The file to read: ``--config``, then ``$SMSGW_CONFIG``, then the system path.

    There is no silent default: with none of them, ``ConfigError`` names the places looked.
    """
    return _choose(explicit)[0]


def _choose(explicit: str | None) -> tuple[Path, str]:
    if explicit:
        return Path(explicit), "--config"
    env = os.environ.get("SMSGW_CONFIG")
    if env:
        return Path(env), "SMSGW_CONFIG"
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH, "default path"
    raise ConfigError(
        f"no configuration: looked at --config (not given), $SMSGW_CONFIG (not set) and "
        f"{DEFAULT_CONFIG_PATH} (no such file); write one from config/gateway.example.toml "
        f"and pass it with --config FILE or SMSGW_CONFIG=FILE")


def source_for(cli_config: str | None) -> ConfigSource:
    """Which file ``settings_for(cli_config)`` reads and the ``SMSGW_*`` variables it sees."""
    path, chosen_by = _choose(cli_config)
    return ConfigSource(path, chosen_by, {k: _masked_env(k, v) for k, v in _smsgw_env().items()})


def _smsgw_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}


def _masked_env(name: str, value: str) -> str:
    upper = name.upper()
    if "PASSWORD" in upper or "SECRET" in upper or "TOKEN" in upper:
        return "***" if value else ""
    return mask_url(value) if "://" in value else value


def load_settings(path: str | Path | None = None, *, explicit: bool = True) -> Settings:
    """Read ``path`` (TOML) and the environment; raise ``ConfigError`` with one clear line."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {p}: not found") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {p}: is a directory") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {p}: cannot read: {exc.strerror}") from None
        _drop_retired(data, p)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc, path)) from None


def _drop_retired(data: dict[str, Any], path: Path) -> None:
    for (section, key), why in RETIRED_KEYS.items():
        table = data.get(section)
        if isinstance(table, dict) and key in table:
            del table[key]
            print(f"config key {section}.{key} in {path}: no longer a setting ({why}); "
                  f"remove it", file=sys.stderr)


def _first_error(exc: ValidationError, path: str | Path | None) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(loc).upper()
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        nearest = _nearest_key(loc)
        if nearest:
            msg += f" (did you mean {nearest}?)"
    # Never echo the offending input: it may be a secret.
    if env in {k.upper() for k in _smsgw_env()}:
        return f"environment variable {env} (config key {key}): {msg}"
    where = f" in {path}" if path else ""
    return f"config key {key}{where} (env {env}): {msg}"


def _nearest_key(loc: list[str]) -> str | None:
    """The known key closest to an unknown one (``smpp.prt`` -> ``smpp.port``)."""
    sections = Settings.model_fields
    if len(loc) == 1:
        found = difflib.get_close_matches(loc[0], list(sections), n=1, cutoff=0.6)
        return found[0] if found else None
    section = sections.get(loc[0])
    model = getattr(section, "annotation", None) if section is not None else None
    fields = getattr(model, "model_fields", None)
    if not fields:
        return None
    found = difflib.get_close_matches(loc[-1], list(fields), n=1, cutoff=0.6)
    return f"{loc[0]}.{found[0]}" if found else None


def settings_for(cli_config: str | None) -> Settings:
    """Entry-point helper: resolve the path (``ConfigError`` when there is none) and load."""
    return load_settings(config_path(cli_config))


def settings_or_report(prog: str, cli_config: str | None) -> Settings | None:
    """``settings_for``, or None after the one line ``PROG: problem`` on stderr (the caller
    exits 2)."""
    try:
        return settings_for(cli_config)
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None
