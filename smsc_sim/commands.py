"""The prompt's and the script's command language, executed against a ``SimulatorThread``."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smsc_sim.server import MALFORMED_KINDS
from smsc_sim.text import TextSyntaxError, typed_text
from smsc_sim.threaded import SimulatorThread

HELP = """\
commands:
  <msisdn> <text>            send a text from a subscriber (e.g. 37129123456 VIETA STOP)
                             quote to keep blanks: 37129123456 "  jaunumi  stop "
                             "" is the empty text; escapes \\n \\t \\\\ \\" \\u0161 \\xHH
  send <msisdn> <text>       the same
  coding auto|0|3|8          data_coding of the next texts (auto: GSM 03.38, else UCS2)
  national on|off            source number as national 8 digits (TON 2) or international
  long udh|payload           how long texts travel: UDH parts or message_payload TLV
  receipts on|off            delivery receipts for the ESME's submit_sm
  receipts mix STATE=N,…     their outcomes, e.g. DELIVRD=80,UNDELIV=10,EXPIRED=5,REJECTD=5
  receipts delay SECONDS     how long after submit_sm_resp each receipt is sent
  fault throttle N           answer every Nth submit_sm with ESME_RTHROTTLED (0x58)
  fault qfull N              answer every Nth submit_sm with ESME_RMSGQFUL (0x14)
  fault drop-after N         drop the TCP link once N more PDUs arrive from the ESME
  fault delay MS             delay every response to the ESME by MS milliseconds
  fault refuse-bind [N]      refuse the next N binds (default 1) with ESME_RBINDFAIL
  fault unbind               send unbind to every bound ESME now
  fault drop                 drop every connection now
  fault malformed KIND       send a malformed PDU: """ + ", ".join(MALFORMED_KINDS) + """
  fault off                  clear all faults
  stats                      counters, latency, binds, faults
  binds                      the ESMEs bound now
  answers                    what the ESME answered to faults (generic_nack, errors)
  help                       this text
  quit                       stop the simulator and leave
script only:
  wait <seconds>             pause
  expect <substring>         the reply to the previous text must contain it (any case)
"""


class CommandError(Exception):
    """A line the command language does not understand."""


@dataclass
class Session:
    sim: SimulatorThread
    out: Callable[[str], None] = print
    coding: int | None = None
    national: bool = False
    long_mode: str = "udh"
    quit: bool = False
    last_mo: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def run(self, line: str) -> int | None:
        """Execute one line; returns the mo_id when it sent a text."""
        line = line.strip()
        if not line or line.startswith("#"):
            return None
        word, _, raw = line.partition(" ")
        rest = raw.strip()
        cmd = word.lower()
        if word.lstrip("+").isdigit():
            return self.send(word, self._text(raw))
        if cmd == "send":
            msisdn, _, text = rest.partition(" ")
            return self.send(msisdn, self._text(text))
        if cmd in ("quit", "exit", "q"):
            self.quit = True
        elif cmd in ("help", "?"):
            self.out(HELP)
        elif cmd == "coding":
            self.coding = None if rest == "auto" else _choice(rest, {"0": 0, "3": 3, "8": 8})
            self.out(f"coding {rest}")
        elif cmd == "national":
            self.national = _on_off(rest)
            self.out(f"national {rest}")
        elif cmd == "long":
            self.long_mode = str(_choice(rest, {"udh": "udh", "payload": "payload"}))
            self.out(f"long texts as {self.long_mode}")
        elif cmd == "receipts":
            self.receipts(rest)
        elif cmd == "fault":
            self.fault(rest)
        elif cmd == "stats":
            self.out(json.dumps(self.sim.stats(), indent=2, default=str))
        elif cmd == "binds":
            binds = self.sim.stats()["binds"]
            self.out("\n".join(json.dumps(b) for b in binds) or "no ESME bound")
        elif cmd == "answers":
            self.out("\n".join(json.dumps(a.as_dict()) for a in self.sim.answers()) or "none")
        else:
            raise CommandError(f"unknown command {word!r} (try help)")
        return None

    @staticmethod
    def _text(raw: str) -> str | None:
        try:
            return typed_text(raw)
        except TextSyntaxError as exc:
            raise CommandError(str(exc)) from None

    def send(self, msisdn: str, text: str | None) -> int:
        if not msisdn.lstrip("+").isdigit() or text is None:
            raise CommandError('usage: <msisdn> <text>  ("" for an empty text)')
        shown = text if text.isprintable() and text.strip() == text and text else repr(text)
        self.out(f"→ {msisdn}: {shown}")
        mo_id = self.sim.send_mo(msisdn, text, coding=self.coding, national=self.national,
                                 long_mode=self.long_mode)
        self.last_mo = mo_id
        return mo_id

    def receipts(self, rest: str) -> None:
        from smsc_sim.receipts import MixError

        what, _, value = rest.partition(" ")
        try:
            if what.lower() == "mix":
                policy = self.sim.set_receipt_policy(mix=value)
            elif what.lower() == "delay":
                policy = self.sim.set_receipt_policy(delay=float(value))
            else:
                self.sim.set_receipts(_on_off(rest))
                self.out(f"receipts {rest}")
                return
        except (MixError, ValueError) as exc:
            raise CommandError(str(exc) if isinstance(exc, MixError)
                               else "usage: receipts delay SECONDS") from None
        self.out(f"receipts: mix {policy['mix']}, delay {policy['delay']:g} s")

    def fault(self, rest: str) -> None:
        args = shlex.split(rest)
        if not args:
            raise CommandError("usage: fault <kind> [value] (try help)")
        kind, values = args[0].lower(), args[1:]

        def number(default: float | None = None) -> float:
            if values:
                return float(values[0])
            if default is None:
                raise CommandError(f"fault {kind} needs a number")
            return default

        if kind == "throttle":
            self.sim.set_fault("throttle_every", int(number()))
        elif kind == "qfull":
            self.sim.set_fault("qfull_every", int(number()))
        elif kind in ("drop-after", "drop_after"):
            self.sim.set_fault("drop_after", int(number()))
        elif kind == "delay":
            self.sim.set_fault("delay_ms", number())
        elif kind in ("refuse-bind", "refuse_bind", "refuse-binds"):
            self.sim.set_fault("refuse_binds", int(number(1)))
        elif kind == "unbind":
            self.out(f"unbind sent to {self.sim.unbind_all()} ESME(s)")
            return
        elif kind == "drop":
            self.out(f"dropped {self.sim.drop_connections()} connection(s)")
            return
        elif kind == "malformed":
            if not values or values[0] not in MALFORMED_KINDS:
                raise CommandError(f"fault malformed <{'|'.join(MALFORMED_KINDS)}>")
            self.out(f"sent to (connection, sequence): {self.sim.send_malformed(values[0])}")
            return
        elif kind in ("off", "clear", "none"):
            self.sim.set_fault("off")
        else:
            raise CommandError(f"unknown fault {kind!r} (try help)")
        self.out(f"fault {rest}")


def _on_off(value: str) -> bool:
    return bool(_choice(value.lower(), {"on": True, "off": False, "true": True,
                                        "false": False, "1": True, "0": False}))


def _choice(value: str, options: dict[str, Any]) -> Any:
    if value not in options:
        raise CommandError(f"expected one of {', '.join(options)}, got {value!r}")
    return options[value]
