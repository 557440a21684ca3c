"""consentctl as a new operator meets it (issue 16): exit codes, no silent configuration
defaults, check-config, --version everywhere, history filters with the replies, the
directory commands, confirmation of destructive commands, CSV dialects and progress.
Every command is a real subprocess."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import DEFAULT_CONFIG_PATH
from consent_core.catalog import load_catalog
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from consentctl.cli import EXIT_CODES
from tests.ctl.test_cli import CTL, Ctl, N, give_old_jaunumi

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_ctl(tmp_path: Path, sqlite_url: str) -> Ctl:
    c = Ctl(tmp_path, sqlite_url)
    assert c("db", "upgrade").returncode == 0
    return c


def run_on_terminal(argv: list[str], env: dict[str, str], cwd: Path, answer: bytes | None = None,
                    timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal; type ``answer``."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(cwd)
        os.execve(argv[0], argv, env)  # noqa: S606 - the command under test, on the pty
    out = b""
    typed = answer is None
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            os.kill(pid, 9)
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not typed and b"Type yes" in out:
            os.write(fd, answer)  # type: ignore[arg-type]
            typed = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


# ------------------------------------------------------------------ configuration

@pytest.mark.skipif(DEFAULT_CONFIG_PATH.exists(), reason="this machine has a system config")
@pytest.mark.parametrize("argv", [
    [CTL, "show", N], [CTL, "status"], [CTL, "db", "upgrade"],
    [str(BIN / "sms-gateway"), "run"], [str(BIN / "consent-worker"), "run"],
])
def test_no_configuration_anywhere_exits_2_naming_the_places_looked(
        tmp_path: Path, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "--config" in out.stderr and "SMSGW_CONFIG" in out.stderr
    assert str(DEFAULT_CONFIG_PATH) in out.stderr
    assert list(tmp_path.iterdir()) == []  # no consents.db created behind the operator's back


def test_check_config_names_the_file_and_variables_and_masks_only_passwords(
        sqlite_ctl: Ctl) -> None:
    sqlite_ctl.config.write_text(
        f'[database]\nurl = "{sqlite_ctl.url}"\n'
        '[redis]\nurl = "redis://:hunter2@10.1.2.3:6380/4"\n')
    env = {"SMSGW_SMPP__PASSWORD": "pw12345", "SMSGW_SMPP__HOST": "smsc.example",
           "SMSGW_DATABASE__URL": "postgresql+psycopg://gw:dbsecret@db.example:5433/consents"}
    out = sqlite_ctl("check-config", env=env)
    assert out.returncode == 0, out.stderr
    assert f"file: {sqlite_ctl.config} (from --config)" in out.stdout
    assert "SMSGW_SMPP__HOST=smsc.example" in out.stdout
    assert "SMSGW_SMPP__PASSWORD=***" in out.stdout
    assert "redis://:***@10.1.2.3:6380/4" in out.stdout
    assert "postgresql+psycopg://gw:***@db.example:5433/consents" in out.stdout
    assert 'host = "smsc.example"' in out.stdout
    for secret in ("hunter2", "pw12345", "dbsecret"):
        assert secret not in out.stdout + out.stderr

    data = json.loads(sqlite_ctl("check-config", "--json", env=env).stdout)
    assert data["chosen_by"] == "--config" and data["file"] == str(sqlite_ctl.config)
    assert data["environment"]["SMSGW_SMPP__PASSWORD"] == "***"
    assert data["settings"]["smpp"]["password"] == "***"

    via_env = sqlite_ctl("check-config", config=False, env={"SMSGW_CONFIG": str(sqlite_ctl.config)})
    assert via_env.returncode == 0 and "(from SMSGW_CONFIG)" in via_env.stdout


def test_gateway_check_config_says_what_it_read(sqlite_ctl: Ctl) -> None:
    out = subprocess.run([str(BIN / "sms-gateway"), "--config", str(sqlite_ctl.config),
                          "check-config"], capture_output=True, text=True, timeout=60,
                         env={**sqlite_ctl.env, "SMSGW_LOG__LEVEL": "debug"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["log"]["level"] == "debug"
    assert f"file: {sqlite_ctl.config} (from --config)" in out.stderr
    assert "SMSGW_LOG__LEVEL=debug" in out.stderr


def test_bad_environment_value_names_the_variable(sqlite_ctl: Ctl) -> None:
    out = sqlite_ctl("check-config", env={"SMSGW_LIMITS__REPLIES_PER_DAY": "many"})
    assert out.returncode == 2
    assert "environment variable SMSGW_LIMITS__REPLIES_PER_DAY" in out.stderr
    assert str(sqlite_ctl.config) not in out.stderr  # not blamed on the file
    assert "many" not in out.stderr  # input is never echoed (it may be a secret)


def test_unknown_key_suggests_the_nearest(sqlite_ctl: Ctl) -> None:
    sqlite_ctl.config.write_text(f'[database]\nurl = "{sqlite_ctl.url}"\n[smpp]\nprot = 2775\n')
    out = sqlite_ctl("show", N)
    assert out.returncode == 2
    assert "smpp.prot" in out.stderr and "did you mean smpp.port?" in out.stderr


def test_mysql_url_is_a_configuration_error(tmp_path: Path) -> None:
    out = Ctl(tmp_path, "mysql://gw:pw@127.0.0.1/consents")("show", N)
    assert out.returncode == 2, out.stderr
    assert "only sqlite and postgresql" in out.stderr and "gw:pw@" not in out.stderr


@pytest.mark.parametrize("command", ["sms-gateway", "consent-worker", "consentctl", "smsc-sim",
                                     "consent-webhooks"])
def test_every_console_command_has_version(command: str) -> None:
    from config.version import package_version

    out = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True,
                         timeout=60, env={k: v for k, v in os.environ.items()
                                          if not k.startswith("SMSGW_")})
    assert out.returncode == 0
    assert out.stdout.strip().startswith(f"{command} {package_version()}")


def test_help_has_examples_and_the_one_exit_code_table_the_readme_copies(
        sqlite_ctl: Ctl) -> None:
    out = sqlite_ctl("--help", config=False)
    assert out.returncode == 0 and "examples:" in out.stdout
    readme = (ROOT / "README.md").read_text()
    for code, text in EXIT_CODES:
        assert f"  {code}  {text}" in out.stdout
        assert f"| {code} | {text} |" in readme, f"README exit code table lacks {code}"
    for argv in (["history"], ["subscribers", "import"], ["erase"]):
        assert "example: consentctl " + argv[0] in sqlite_ctl(*argv, "--help", config=False).stdout


def test_completion_answers_the_shell(sqlite_ctl: Ctl) -> None:
    # What bash's hook (register-python-argcomplete) does: the line in the environment,
    # the answer on file descriptor 8, argcomplete's debug stream on 9.
    env = {**sqlite_ctl.env, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n",
           "COMP_LINE": "consentctl subsc", "COMP_POINT": "16"}
    out = subprocess.run(["bash", "-c", f"{CTL} 8>&1 9>/dev/null"], env=env, timeout=60,
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.split() == ["subscribers"]


# ------------------------------------------------------------------ reading

def test_history_filters_and_shows_each_reply_with_its_delivery(sqlite_ctl: Ctl) -> None:
    store = ConsentStore(sqlite_ctl.url)
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    store.import_subscribers([(N, "lmt", True)])
    for i, (text, action) in enumerate([("VIETA", "give"), ("AUTO", "give"),
                                        ("VIETA STOP", "withdraw")]):
        consent = text.split()[0]
        store.apply(ChangeRequest(f"ev{i}", N, action, consent, "sms", t0 + timedelta(days=i),
                                  i, text=text), catalog=load_catalog())
    store.record_submit("ev0", "msg-0", "accepted", t0)
    store.record_receipt("msg-0", "DELIVRD", t0 + timedelta(seconds=5))
    store.close()

    rows = json.loads(sqlite_ctl("history", N, "--consent", "vieta", "--json").stdout)
    assert [r["event_id"] for r in rows] == ["ev0", "ev2"]
    assert rows[0]["reply"]["delivery_status"] == "DELIVRD"
    assert rows[0]["reply"]["message_id"] == "msg-0" and rows[0]["reply"]["text"]
    assert rows[1]["reply"]["submit_status"] == "pending"

    window = json.loads(sqlite_ctl("history", N, "--since", "2026-11-02", "--until",
                                   "2026-11-04", "--json").stdout)
    assert [r["event_id"] for r in window] == ["ev1", "ev2"]
    until = json.loads(sqlite_ctl("history", N, "--until", "2026-11-03T12:00:00Z",
                                  "--json").stdout)
    assert [r["event_id"] for r in until] == ["ev0", "ev1"]  # --until is exclusive
    assert [r["event_id"] for r in json.loads(
        sqlite_ctl("history", N, "--limit", "1", "--json").stdout)] == ["ev0"]

    table = sqlite_ctl("history", N, "--consent", "VIETA").stdout
    assert "DELIVERY" in table.splitlines()[0]
    assert "DELIVRD 2026-11-01T12:00:05Z" in table and "pending" in table
    # what each text was read as, in words, not outcome codes (consent_core.wording)
    assert "WHAT HAPPENED" in table.splitlines()[0] and "OUTCOME" not in table
    assert "consent VIETA withdrawn; read as “VIETA STOP”" in table
    latvian = sqlite_ctl("history", N, "--consent", "VIETA", "--lang", "lv").stdout
    assert "piekrišana VIETA atsaukta; saprasts kā “VIETA STOP”" in latvian
    assert rows[0]["read_as"] == {"lv": "piekrišana VIETA dota; saprasts kā “VIETA” "
                                        "(precīza komanda)",
                                  "en": "consent VIETA given; read as “VIETA” "
                                        "(the exact command)"}

    none = sqlite_ctl("history", N, "--since", "2027-01-01")
    assert none.returncode == 0 and "no events match" in none.stderr
    assert sqlite_ctl("history", N, "--limit", "0").returncode == 2


def test_subscribers_show_and_list(sqlite_ctl: Ctl) -> None:
    (sqlite_ctl.tmp / "dir.csv").write_text(
        "37129000001,lmt\n37129000002,other,false\n37129000003,lmt,true\n")
    assert sqlite_ctl("subscribers", "import", "dir.csv").returncode == 0
    show = json.loads(sqlite_ctl("subscribers", "show", "29000002", "--json").stdout)
    assert (show["msisdn"], show["client_group"], show["independent"]) == \
        ("37129000002", "other", False)
    assert "independent: no" in sqlite_ctl("subscribers", "show", "29000002").stdout
    missing = sqlite_ctl("subscribers", "show", "29000009")
    assert missing.returncode == 1 and "not in the subscriber directory" in missing.stderr

    page = json.loads(sqlite_ctl("subscribers", "list", "--limit", "2", "--json").stdout)
    assert [r["msisdn"] for r in page] == ["37129000001", "37129000002"]
    rest = json.loads(sqlite_ctl("subscribers", "list", "--after", page[-1]["msisdn"],
                                 "--json").stdout)
    assert [r["msisdn"] for r in rest] == ["37129000003"]
    lmt = sqlite_ctl("subscribers", "list", "--group", "lmt")
    assert "37129000002" not in lmt.stdout and "37129000003" in lmt.stdout

    shown = sqlite_ctl("show", "37129000002")
    assert "independent: no" in shown.stdout


# ------------------------------------------------------------------ destroying

def given_vieta(c: Ctl) -> None:
    (c.tmp / "one.csv").write_text(f"{N},lmt\n")
    assert c("subscribers", "import", "one.csv").returncode == 0
    assert "VIETA: given" in c("grant", N, "VIETA", "--channel", "web").stdout


def test_erase_and_reset_need_yes_off_a_terminal(sqlite_ctl: Ctl) -> None:
    given_vieta(sqlite_ctl)
    for argv in (["erase", N, "--reason", "Art. 17"], ["reset", N, "--reason", "new user"]):
        out = sqlite_ctl(*argv)
        assert out.returncode == 2 and "--yes" in out.stderr
    assert json.loads(sqlite_ctl("show", N, "--json").stdout)["consents"]["VIETA"]["status"] \
        == "given"  # nothing changed


def test_erase_asks_on_a_terminal(sqlite_ctl: Ctl) -> None:
    given_vieta(sqlite_ctl)
    argv = [CTL, "--config", str(sqlite_ctl.config), "erase", N, "--reason", "Art. 17"]
    code, out = run_on_terminal(argv, sqlite_ctl.env, sqlite_ctl.tmp, answer=b"no\n")
    assert code == 2 and "not confirmed" in out
    assert json.loads(sqlite_ctl("show", N, "--json").stdout)["consents"]["VIETA"]["status"] \
        == "given"  # not erased
    code, out = run_on_terminal(argv, sqlite_ctl.env, sqlite_ctl.tmp, answer=b"yes\n")
    assert code == 0 and f"{N}: erased" in out


# ------------------------------------------------------------------ importing

def test_import_semicolons_bom_and_a_number_listed_twice(sqlite_ctl: Ctl) -> None:
    (sqlite_ctl.tmp / "lv.csv").write_bytes(
        "\ufeffmsisdn;client_group;independent\n"
        "29000001;lmt;true\n"
        "29000002;other;false\n"
        "+37129000001;other;true\n".encode())
    out = sqlite_ctl("subscribers", "import", "lv.csv")
    assert out.returncode == 3
    assert out.stderr.strip() == ("lv.csv:4: 37129000001 is listed again (first at line 2); "
                                  "row skipped")
    assert "imported 2 subscribers" in out.stdout
    first = json.loads(sqlite_ctl("subscribers", "show", "29000001", "--json").stdout)
    assert first["client_group"] == "lmt"  # the first listing, not silently the last


def test_import_shows_progress_on_a_terminal_only(sqlite_ctl: Ctl) -> None:
    rows = "".join(f"2{i:07d},lmt\n" for i in range(1, 5001))
    (sqlite_ctl.tmp / "dir.csv").write_text(rows)
    argv = [CTL, "--config", str(sqlite_ctl.config), "subscribers", "import", "dir.csv"]
    code, out = run_on_terminal(argv, sqlite_ctl.env, sqlite_ctl.tmp)
    assert code == 0 and "imported 5000 subscribers" in out
    assert "importing dir.csv" in out and "5000/5000" in out and "rows/s" in out
    piped = sqlite_ctl("subscribers", "import", "dir.csv")
    assert piped.returncode == 0 and piped.stderr == ""


def test_lapse_shows_progress_on_a_terminal(sqlite_ctl: Ctl) -> None:
    give_old_jaunumi(sqlite_ctl.url)
    argv = [CTL, "--config", str(sqlite_ctl.config), "lapse", "--dry-run"]
    code, out = run_on_terminal(argv, sqlite_ctl.env, sqlite_ctl.tmp)
    assert code == 0 and "would lapse 1" in out and "1/1" in out
    assert sqlite_ctl("lapse", "--dry-run").stderr == ""
