"""consentctl run as operators run it: a real subprocess per command, exit codes, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consent_core.catalog import load_catalog
from consent_core.model import CONSENTS
from consent_store.engine import head_revision
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore

CTL = str(Path(sys.executable).with_name("consentctl"))
N = "37129123456"


class Ctl:
    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp = tmp
        self.url = url
        self.config = tmp / "gateway.toml"
        self.config.write_text(f'[database]\nurl = "{url}"\n')
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}

    def __call__(self, *args: str, config: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = [CTL, *(["--config", str(self.config)] if config else []), *args]
        return subprocess.run(argv, capture_output=True, text=True, cwd=self.tmp, timeout=60,
                              env={**self.env, **(env or {})})


@pytest.fixture
def ctl(tmp_path: Path, database_url: str) -> Ctl:
    c = Ctl(tmp_path, database_url)
    assert c("db", "upgrade").returncode == 0
    return c


@pytest.fixture
def sqlite_ctl(tmp_path: Path, sqlite_url: str) -> Ctl:
    c = Ctl(tmp_path, sqlite_url)
    assert c("db", "upgrade").returncode == 0
    return c


def test_db_upgrade_reports_revision_and_can_run_again(ctl: Ctl) -> None:
    again = ctl("db", "upgrade")
    assert again.returncode == 0
    assert head_revision() in again.stdout  # the head revision, whichever it is


def test_operator_session_grant_show_withdraw_history_export(ctl: Ctl) -> None:
    (ctl.tmp / "dir.csv").write_text(f"{N},lmt\n")
    assert ctl("subscribers", "import", "dir.csv").returncode == 0

    grant = ctl("grant", "29123456", "vieta", "--channel", "customer_centre")
    assert grant.returncode == 0, grant.stderr
    assert "VIETA: given" in grant.stdout

    show = ctl("show", N, "--json")
    assert show.returncode == 0
    data = json.loads(show.stdout)
    assert set(data) == {"msisdn", "client_group", "independent", "consents"}
    assert data["independent"] is True
    assert (data["msisdn"], data["client_group"]) == (N, "lmt")
    assert list(data["consents"]) == list(CONSENTS)
    vieta = data["consents"]["VIETA"]
    assert (vieta["status"], vieta["channel"]) == ("given", "customer_centre")
    assert vieta["since"].endswith("Z") and datetime.fromisoformat(vieta["since"][:-1])
    assert data["consents"]["JAUNUMI"] == {"status": "none", "since": None, "channel": None}

    table = ctl("show", "+37129123456")
    assert table.returncode == 0
    assert "VIETA" in table.stdout and "given" in table.stdout and "lmt" in table.stdout

    given_at = vieta["since"]
    assert ctl("withdraw", "0037129123456", "VIETA", "--channel", "web").returncode == 0
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["VIETA"]["status"] \
        == "withdrawn"
    past = json.loads(ctl("show", N, "--json", "--at", given_at).stdout)
    assert past["consents"]["VIETA"]["status"] == "given"

    hist = ctl("history", N, "--json")
    assert hist.returncode == 0
    assert [(e["action"], e["outcome"], e["channel"]) for e in json.loads(hist.stdout)] == [
        ("give", "given", "customer_centre"), ("withdraw", "withdrawn", "web")]
    assert "withdrawn" in ctl("history", N).stdout

    export = ctl("export", N)
    assert export.returncode == 0
    dump = json.loads(export.stdout)
    assert dump["subscriber"]["client_group"] == "lmt" and len(dump["history"]) == 2
    assert ctl.url.split("@")[-1] not in export.stdout


def test_reset_and_erase(ctl: Ctl) -> None:
    assert ctl("grant", N, "JAUNUMI", "--channel", "web").returncode == 0
    reset = ctl("reset", N, "--reason", "number handed to a new user", "--json", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert [c["consent"] for c in json.loads(reset.stdout)] == ["JAUNUMI"]
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["JAUNUMI"]["status"] \
        == "withdrawn"
    erase = ctl("erase", N, "--reason", "data subject request", "--json", "--yes")
    assert erase.returncode == 0, erase.stderr
    assert json.loads(erase.stdout)["events_pseudonymised"] == 2
    hist = json.loads(ctl("history", N, "--json", "--all-holders").stdout)
    assert [e["action"] for e in hist] == ["give", "reset", "erase"]
    assert all(e["msisdn"] != N and e["text"] is None for e in hist)


def give_old_jaunumi(url: str) -> None:
    """A JAUNUMI given 400 days ago, with no activity since: due to lapse."""
    store = ConsentStore(url)
    old = datetime.now(UTC) - timedelta(days=400)
    store.apply(ChangeRequest("old-jaunumi", N, "give", "JAUNUMI", "sms", old, 1,
                              text="JAUNUMI"), catalog=load_catalog())
    store.close()


def test_lapse_dry_run_then_lapse(ctl: Ctl) -> None:
    give_old_jaunumi(ctl.url)
    dry = ctl("lapse", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert [c["msisdn"] for c in json.loads(dry.stdout)["lapsed"]] == [N]
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["JAUNUMI"]["status"] \
        == "given"
    done = ctl("lapse")
    assert done.returncode == 0 and "lapsed 1" in done.stdout
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["JAUNUMI"]["status"] \
        == "lapsed"
    assert "lapsed 0" in ctl("lapse").stdout


def test_import_loads_good_rows_and_reports_bad_ones_by_line(sqlite_ctl: Ctl) -> None:
    (sqlite_ctl.tmp / "dir.csv").write_text(
        "msisdn,client_group,independent\n"
        "29123456,lmt,true\n"
        "not-a-number,lmt\n"
        "+37129000001,other\n"
        "\n"
        "0037129000002,LMT,false\n"
        "29000003,gold\n"
        "29000004,lmt,maybe\n"
        "29000005\n")
    out = sqlite_ctl("subscribers", "import", "dir.csv")
    assert out.returncode == 3
    assert "imported 3 subscribers" in out.stdout and "4 bad rows" in out.stdout
    lines = out.stderr.strip().splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [
        ["dir.csv", "3"], ["dir.csv", "7"], ["dir.csv", "8"], ["dir.csv", "9"]]
    assert "gold" in lines[1] and "maybe" in lines[2]
    minor = json.loads(sqlite_ctl("export", "37129000002").stdout)
    assert minor["subscriber"] == {"client_group": "lmt", "independent": False,
                                   "updated_at": minor["subscriber"]["updated_at"]}


def test_import_without_header_all_good_exits_0(sqlite_ctl: Ctl) -> None:
    rows = "".join(f"2{i:07d},{'lmt' if i % 2 else 'other'}\n" for i in range(1, 2501))
    (sqlite_ctl.tmp / "dir.csv").write_text(rows)
    out = sqlite_ctl("subscribers", "import", "dir.csv")
    assert out.returncode == 0, out.stderr
    assert "imported 2500 subscribers" in out.stdout and out.stderr == ""
    assert json.loads(sqlite_ctl("show", "20000001", "--json").stdout)["client_group"] == "lmt"


@pytest.mark.parametrize("argv", [
    ["show", N], ["history", N], ["export", N], ["reset", N, "--reason", "x", "--yes"],
    ["erase", N, "--reason", "x", "--yes"],
])
def test_unknown_number_exits_1(sqlite_ctl: Ctl, argv: list[str]) -> None:
    out = sqlite_ctl(*argv)
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and N in out.stderr


@pytest.mark.parametrize("argv", [
    ["show", "hello"], ["show", N, "--at", "last tuesday"], ["grant", N, "PIZZA", "--channel",
                                                              "web"],
    ["grant", N, "VIETA"], ["grant", N, "VIETA", "--channel", "sms"], ["reset", N],
    ["reset", N, "--reason", " "], ["frobnicate"], [],
])
def test_usage_errors_exit_2(sqlite_ctl: Ctl, argv: list[str]) -> None:
    assert sqlite_ctl(*argv).returncode == 2


def test_config_after_subcommand_and_from_environment(sqlite_ctl: Ctl) -> None:
    assert sqlite_ctl("grant", N, "JAUNUMI", "--channel", "web").returncode == 0
    after = sqlite_ctl("show", N, "--json", "--config", str(sqlite_ctl.config), config=False)
    assert after.returncode == 0
    env = sqlite_ctl("show", N, "--json", config=False,
                     env={"SMSGW_CONFIG": str(sqlite_ctl.config)})
    assert env.returncode == 0 and json.loads(env.stdout)["msisdn"] == N


def test_config_errors_are_one_line_and_exit_2(tmp_path: Path, sqlite_url: str) -> None:
    c = Ctl(tmp_path, sqlite_url)
    missing = c("show", N, config=False, env={"SMSGW_CONFIG": str(tmp_path / "nope.toml")})
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0
    c.config.write_text('[database]\nurl = "sqlite:///x.db"\nbogus = 1\n')
    bad = c("show", N)
    assert bad.returncode == 2 and "database.bogus" in bad.stderr


def test_unreachable_database_exits_5_without_showing_the_password(tmp_path: Path,
                                                                   sqlite_url: str) -> None:
    c = Ctl(tmp_path, "postgresql+psycopg://gw:s3cr3tpw@127.0.0.1:1/consents")
    for argv in (["show", N], ["db", "upgrade"]):
        out = c(*argv)
        assert out.returncode == 5, out.stderr
        assert "s3cr3tpw" not in out.stderr + out.stdout and "127.0.0.1:1" in out.stderr


def test_store_without_schema_says_to_upgrade(tmp_path: Path, sqlite_url: str) -> None:
    out = Ctl(tmp_path, sqlite_url)("show", N)
    assert out.returncode == 4 and "consentctl db upgrade" in out.stderr


def test_help_lists_every_spec_command(sqlite_ctl: Ctl) -> None:
    out = sqlite_ctl("--help", config=False)
    assert out.returncode == 0
    for name in ("db", "subscribers", "show", "history", "grant", "withdraw", "export",
                 "reset", "erase", "lapse"):
        assert name in out.stdout


