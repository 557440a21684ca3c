"""Gateway settings: one TOML file, overridden by ``SMSGW_<SECTION>__<KEY>`` variables.

Settings are loaded once at an entry point into a frozen object and passed down.
A bad value stops start-up with one line naming the key (``ConfigError``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_CONFIG_PATH = Path("/etc/sms-gateway/gateway.toml")
ENV_PREFIX = "SMSGW_"


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
    # /healthz fails when replies are due and none was accepted by the SMSC for this long.
    reply_stall_timeout: float = Field(60.0, gt=0, le=3600)


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    socket_timeout: float = Field(2.0, gt=0, le=60)
    key_prefix: str = Field("smsgw", min_length=1)


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
    retry_intervals: list[int] = [1, 2, 5, 10, 30]
    redelivery_window: int = Field(600, ge=1, le=86400)
    absorb_max_jobs: int = Field(20, ge=0, le=1000)


class LimitSettings(_Section):
    replies_per_minute: int = Field(20, ge=0)
    replies_per_day: int = Field(100, ge=0)


class ConsentSettings(_Section):
    catalog: str = ""  # empty: the catalog shipped with the package
    language: Literal["lv", "en"] = "lv"
    jaunumi_lapse_days: int = Field(183, ge=1, le=3650)  # seed: "more than six months"


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    mask_msisdn: bool = True


class MetricsSettings(_Section):
    gateway_port: int = Field(9464, ge=0, le=65535)  # 0 = off
    worker_port: int = Field(9465, ge=0, le=65535)
    bind: str = "127.0.0.1"


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
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()

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
        """Settings as plain data with every secret replaced by ``***``."""
        redacted: dict[str, Any] = _redact(self.model_dump(mode="python"))
        return redacted


def _redact(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    return value


def config_path(explicit: str | None) -> Path | None:
    """The file to read: ``--config``, then ``$SMSGW_CONFIG``, then the system path if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("SMSGW_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


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
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {p}: cannot read: {exc.strerror}") from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_first_error(exc, path)) from None


def _first_error(exc: ValidationError, path: str | Path | None) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    env = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    where = f" in {path}" if path else ""
    # Never echo the offending input: it may be a secret.
    return f"config key {key} (env {env}){where}: {msg}"


def settings_for(cli_config: str | None) -> Settings:
    """Entry-point helper: resolve the path and load."""
    return load_settings(config_path(cli_config))
