"""The systemd units in systemd/: they verify, they are hardened, and Python runs inside them.

There is no systemd as PID 1 here, so the units are checked with systemd-analyze (verify,
and the offline security assessment), and what the sandbox forbids is checked by running
a representative workload under strace and comparing its system calls with the filter.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
SERVICES = ["sms-gateway.service", "consent-worker@.service", "consent-lapse.service",
            "consent-api.service", "consent-webhooks.service"]
INSTALLED_BIN = "/opt/sms-gateway/.venv/bin/"
VENV_BIN = Path(sys.executable).parent
# What `systemd-analyze security` reached for each service (systemd 252): 1.1. The bar
# leaves room for newer systemd versions that add checks, not for loosening a unit.
MAX_EXPOSURE = 1.5

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def _entries(unit: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of each assignment, in order; keys may repeat."""
    section, out = "", []
    for raw in (UNITS / unit).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def _values(unit: str, key: str) -> list[str]:
    return [v for _, k, v in _entries(unit) if k == key]


def _one(unit: str, key: str) -> str:
    (value,) = _values(unit, key)
    return value


@pytest.fixture
def runnable_units(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this checkout's venv instead of /opt/sms-gateway."""
    for name in ("sms-gateway", "consent-worker", "consentctl", "consent-api", "consent-webhooks"):
        assert (VENV_BIN / name).is_file(), f"{name} is not installed in {VENV_BIN}"
    for unit in UNITS.iterdir():
        text = unit.read_text()
        if unit.suffix == ".service":
            assert INSTALLED_BIN in text
        (tmp_path / unit.name).write_text(text.replace(INSTALLED_BIN, f"{VENV_BIN}/"))
    # Verify the template as an instance, as systemctl would start it.
    (tmp_path / "consent-worker@0.service").symlink_to("consent-worker@.service")
    return tmp_path


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], cwd=cwd, capture_output=True,
                           text=True, timeout=120, check=False)


@needs_analyze
def test_every_unit_verifies_without_a_single_complaint(runnable_units: Path) -> None:
    units = ["sms-gateway.service", "consent-worker@0.service", "consent-lapse.service",
             "consent-lapse.timer", "consent-api.service", "consent-webhooks.service"]
    proc = _analyze("verify", "--man=no", *units, cwd=runnable_units)
    # Unknown keys and bad values are warnings with exit status 0: any output fails.
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@needs_analyze
def test_shipped_units_differ_from_the_verified_ones_only_in_the_install_path() -> None:
    proc = _analyze("verify", "--man=no", *sorted(p.name for p in UNITS.iterdir()), cwd=UNITS)
    complaints = (proc.stdout + proc.stderr).splitlines()
    assert complaints, "expected the /opt/sms-gateway binaries to be missing here"
    for line in complaints:
        assert f"Command {INSTALLED_BIN}" in line and "is not executable" in line, line


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_security_exposure_is_low(runnable_units: Path, unit: str) -> None:
    name = unit.replace("@.", "@0.")
    proc = _analyze("security", "--offline=true", "--no-pager", name, cwd=runnable_units)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    print(f"{unit}: exposure {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) <= MAX_EXPOSURE


@pytest.mark.parametrize("unit", SERVICES)
def test_hardening_is_on_in_every_service(unit: str) -> None:
    expected = {
        "User": "smsgw", "Group": "smsgw", "StateDirectory": "sms-gateway",
        "ConfigurationDirectory": "sms-gateway", "UMask": "0077",
        "ProtectSystem": "strict", "ProtectHome": "true", "PrivateTmp": "true",
        "PrivateDevices": "true", "NoNewPrivileges": "true", "CapabilityBoundingSet": "",
        "AmbientCapabilities": "", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures": "native", "ProtectKernelTunables": "true",
        "ProtectKernelModules": "true", "ProtectKernelLogs": "true",
        "ProtectControlGroups": "true", "ProtectClock": "true", "ProtectHostname": "true",
        "ProtectProc": "invisible", "ProcSubset": "pid", "RestrictNamespaces": "true",
        "RestrictRealtime": "true", "RestrictSUIDSGID": "true", "LockPersonality": "true",
        "MemoryDenyWriteExecute": "true",
    }
    assert {k: _one(unit, k) for k in expected} == expected
    assert _values(unit, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]


@pytest.mark.parametrize("unit", SERVICES)
def test_secrets_come_from_a_root_only_file_never_from_the_unit(unit: str) -> None:
    assert _values(unit, "EnvironmentFile") == ["/etc/sms-gateway/secrets.env"]
    text = (UNITS / unit).read_text()
    for name in ("SMSGW_SMPP__PASSWORD", "SMSGW_DATABASE__URL", "SMSGW_REDIS__URL"):
        assert name not in text
    assert not re.search(r"://[^\s/]*:[^\s/]*@", text), "a URL with credentials"
    assert all(not v.startswith("SMSGW_") or v.startswith("SMSGW_CONFIG=")
               for v in _values(unit, "Environment"))


@pytest.mark.parametrize("unit", ["sms-gateway.service", "consent-worker@.service",
                                  "consent-webhooks.service"])
def test_daemons_are_notify_services_with_a_watchdog(unit: str) -> None:
    assert _one(unit, "Type") == "notify"
    assert _one(unit, "NotifyAccess") == "main"
    assert _one(unit, "WatchdogSec") == "30"
    assert _one(unit, "Restart") == "on-failure"
    assert _one(unit, "KillMode") == "mixed"
    assert int(_one(unit, "StartLimitBurst")) > 1


def test_worker_instance_is_its_shard() -> None:
    assert _one("consent-worker@.service", "ExecStart").endswith(" --shard %i")


def test_gateway_reloads_with_sighup() -> None:
    assert _one("sms-gateway.service", "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert _one("sms-gateway.service", "ExecStart") == (
        f"{INSTALLED_BIN}sms-gateway run --config /etc/sms-gateway/gateway.toml")


def test_lapse_runs_daily_from_its_timer_and_catches_up_after_downtime() -> None:
    assert _one("consent-lapse.service", "Type") == "oneshot"
    assert _one("consent-lapse.service", "ExecStart") == f"{INSTALLED_BIN}consentctl lapse"
    assert _one("consent-lapse.timer", "Persistent") == "true"
    assert _one("consent-lapse.timer", "RandomizedDelaySec")
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d|daily", _one("consent-lapse.timer",
                                                             "OnCalendar"))


# --- the sandbox against a real process ------------------------------------------------

@functools.cache
def _syscall_group(name: str) -> frozenset[str]:
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                         capture_output=True, text=True, check=True).stdout
    calls: set[str] = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= _syscall_group(item) if item.startswith("@") else {item}
    return frozenset(calls)


def _allowed_syscalls(unit: str) -> frozenset[str]:
    allowed: set[str] = set()
    for value in _values(unit, "SystemCallFilter"):
        deny = value.startswith("~")
        names = value.removeprefix("~").split()
        calls = set().union(*(_syscall_group(n) if n.startswith("@") else {n} for n in names))
        if deny:
            allowed -= calls
        else:
            allowed |= calls
    return frozenset(allowed)


_STRACE_CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


def _as_service_user() -> list[str]:
    """A prefix that runs a command with a non-root euid, as the units' User=smsgw does.

    It matters: SQLite, for one, fchown()s its journal only when running as root, and
    fchown is outside the filter. As root here, a user namespace mapping us to nobody
    (what PrivateUsers= does too) keeps file access as it is and changes the euid.
    """
    if os.geteuid() != 0:
        return []
    return ["unshare", "--user", "--map-user=65534", "--map-group=65534", "--"]


def _strace(cmd: list[str], out: Path) -> list[str]:
    proc = subprocess.run([*_as_service_user(), "strace", "-f", "-qq", "-o", str(out), "--",
                           *cmd], cwd=REPO, timeout=300, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out.read_text().splitlines()


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze")
def test_python_workload_stays_inside_the_system_call_filter_and_wx_rule(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    lines = _strace([sys.executable, "-m", "tests.ops.syscall_workload", redis_url,
                     postgres_url, str(tmp_path)], tmp_path / "trace")
    used = {m.group(1) for line in lines if (m := _STRACE_CALL.match(line))}
    assert {"socket", "connect", "wait4", "sendto"} <= used  # the trace is real
    for unit in SERVICES:
        assert sorted(used - _allowed_syscalls(unit)) == [], unit

    # MemoryDenyWriteExecute=: no mapping both writable and executable, and no
    # mprotect() that makes memory executable (an executable stack would need one).
    wx = [line for line in lines
          if re.search(r"\b(mmap|mremap)\(.*PROT_WRITE\|PROT_EXEC", line)
          or re.search(r"\b(pkey_)?mprotect\(.*PROT_EXEC", line)]
    assert wx == []


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze")
def test_the_console_commands_stay_inside_the_system_call_filter(
    tmp_path: Path, redis_url: str
) -> None:
    # The units' own commands, as far as they run without an SMSC: the schema upgrade
    # operators run first, the daily lapse, and a worker draining its shard.
    env = {**os.environ, "SMSGW_REDIS__URL": redis_url,
           "SMSGW_DATABASE__URL": f"sqlite:///{tmp_path}/consents.db",
           "SMSGW_CONFIG": str(tmp_path / "gateway.toml"), "SMSGW_LOG__FORMAT": "json"}
    (tmp_path / "gateway.toml").write_text("# every setting from SMSGW_* variables\n")
    allowed = _allowed_syscalls("consent-worker@.service")
    for i, cmd in enumerate([["consentctl", "db", "upgrade"], ["consentctl", "lapse"],
                             ["consent-worker", "run", "--burst", "--shard", "0"]]):
        trace = tmp_path / f"trace{i}"
        proc = subprocess.run([*_as_service_user(), "strace", "-f", "-qq", "-o", str(trace),
                               "--", str(VENV_BIN / cmd[0]), *cmd[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, (cmd, proc.stderr[-3000:])
        lines = trace.read_text().splitlines()
        used = {m.group(1) for line in lines if (m := _STRACE_CALL.match(line))}
        assert sorted(used - allowed) == [], cmd
