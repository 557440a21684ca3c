"""Settings: the example file is complete and loads; env beats file; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "gateway.example.toml"


def test_example_file_documents_exactly_the_defaults() -> None:
    assert load_settings(EXAMPLE).redacted() == Settings().redacted()


def test_example_file_names_every_key() -> None:
    text = EXAMPLE.read_text()
    for section, model in Settings().model_dump().items():
        assert f"[{section}]" in text
        for key in model:
            assert f"\n{key} =" in text, f"{section}.{key} is not documented"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "g.toml"
    f.write_text('[smpp]\nport = 3000\nhost = "10.0.0.5"\n')
    monkeypatch.setenv("SMSGW_SMPP__PORT", "4000")
    s = load_settings(f)
    assert s.smpp.port == 4000 and s.smpp.host == "10.0.0.5"


@pytest.mark.parametrize(("content", "env", "fragment"), [
    ("[smpp]\nport = 70000\n", {}, "smpp.port"),
    ("[smpp]\nprt = 1\n", {}, "smpp.prt"),
    ("[queue]\nshards = 0\n", {}, "queue.shards"),
    ("", {"SMSGW_LIMITS__REPLIES_PER_DAY": "many"}, "limits.replies_per_day"),
    ("[smpp\n", {}, "not valid TOML"),
])
def test_bad_configuration_is_one_line_naming_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, env: dict[str, str],
        fragment: str) -> None:
    f = tmp_path / "g.toml"
    f.write_text(content)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_secrets_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGW_SMPP__PASSWORD", "hunter2")
    monkeypatch.setenv("SMSGW_DATABASE__URL", "postgresql+psycopg://u:topsecret@db/x")
    s = load_settings(None)
    assert s.smpp.password.get_secret_value() == "hunter2"
    dumped = repr(s) + str(s.redacted())
    assert "hunter2" not in dumped and "topsecret" not in dumped


def test_bad_value_error_does_not_echo_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSGW_SMPP__PASSWORD", "muchtoolongsecret")
    with pytest.raises(ConfigError) as err:
        load_settings(None)
    assert "muchtoolongsecret" not in str(err.value)
    assert "smpp.password" in str(err.value)


def test_a_retired_key_is_dropped_with_one_line_saying_it_can_go(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """queue.retry_intervals was never read; files copied from the old example still start."""
    f = tmp_path / "g.toml"
    f.write_text("[queue]\nshards = 2\nretry_intervals = [1, 2]\n")
    assert load_settings(f).queue.shards == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "queue.retry_intervals" in line and "no longer a setting" in line
