"""``smsc-sim``: interactive prompt, ``--script FILE``, ``load`` and ``ceiling``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from smsc_sim.commands import CommandError, Session
from smsc_sim.load import LoadError, LoadOptions, format_report, run_ceiling, run_load
from smsc_sim.model import Faults, Reply, SimConfig
from smsc_sim.server import SmscSimulator
from smsc_sim.threaded import SimulatorThread

log = structlog.get_logger("smsc_sim")


def configure_logging(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f", utc=False),
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _server_options(p: argparse.ArgumentParser, sub: bool) -> None:
    """Options shared by every mode; a subcommand's copies keep the top level's values."""

    def opt(*names: str, **kw: Any) -> None:
        if sub:
            kw["default"] = argparse.SUPPRESS
        p.add_argument(*names, **kw)

    d = SimConfig()
    opt("--host", default=d.host, help="listen address (default %(default)s)")
    opt("--port", type=int, default=d.port, help="listen port (default %(default)s)")
    opt("--system-id", default=d.system_id, help="system_id ESMEs must bind with")
    opt("--password", default=d.password, help="password ESMEs must bind with")
    opt("--short-number", default=d.short_number, help="destination of MOs")
    opt("--window", type=int, default=d.window,
        help="unacknowledged deliver_sm per receiving bind (default %(default)s)")
    opt("--max-attempts", type=int, default=d.max_attempts,
        help="deliveries of one deliver_sm before giving up (default %(default)s)")
    opt("--retry-min", type=float, default=d.retry_min,
        help="seconds before the first redelivery, doubling up to --retry-max")
    opt("--retry-max", type=float, default=d.retry_max)
    opt("--no-receipts", action="store_true", default=False,
        help="never send delivery receipts")
    opt("--receipt-mix", type=_mix, default=d.receipt_mix, metavar="STATE=SHARE,…",
        help="outcomes of delivery receipts, e.g. DELIVRD=80,UNDELIV=10,EXPIRED=5,REJECTD=5 "
             "(default %(default)s)")
    opt("--receipt-delay", type=float, default=d.receipt_delay, metavar="SECONDS",
        help="delay from submit_sm_resp to its receipt (default %(default)s)")
    opt("--long-mode", choices=["udh", "payload"], default=d.long_mode,
        help="long MOs as UDH parts or one message_payload TLV")
    opt("--coding", type=int, choices=[0, 3, 8], default=None,
        help="force data_coding of MOs (default: GSM 03.38 if it fits, else UCS2)")
    opt("--national", action="store_true", default=False,
        help="MO source as national 8 digits (TON 2) instead of international (TON 1)")
    opt("--throttle-every", type=int, default=0, metavar="N",
        help="fault: every Nth submit_sm gets ESME_RTHROTTLED")
    opt("--qfull-every", type=int, default=0, metavar="N",
        help="fault: every Nth submit_sm gets ESME_RMSGQFUL")
    opt("--drop-after", type=int, default=0, metavar="N",
        help="fault: drop the TCP link once after N PDUs from ESMEs")
    opt("--delay-ms", type=float, default=0.0, help="fault: delay responses to the ESME")
    opt("--refuse-binds", type=int, default=0, metavar="N",
        help="fault: refuse the first N binds (ESME_RBINDFAIL)")
    opt("--log-pdus", action="store_true", default=False, help="hex-dump every PDU")
    opt("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    opt("--bind-timeout", type=float, default=30.0,
        help="seconds to wait for an ESME to bind (script and load modes)")


def _mix(text: str) -> str:
    from smsc_sim.receipts import MixError, format_mix, parse_mix

    try:
        return format_mix(parse_mix(text))
    except MixError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsc-sim",
        description="SMPP 3.4 SMSC simulator: an interactive prompt by default; "
                    "--script FILE plays a script; 'load' and 'ceiling' measure.")
    from config.version import add_version_argument

    add_version_argument(parser)
    _server_options(parser, sub=False)
    parser.add_argument("--script", type=Path, help="play a script file and exit")
    parser.add_argument("--web", type=int, metavar="PORT",
                        help="also serve a page on PORT (same --host) to type as a phone, "
                             "see the conversation and trigger faults; with stdin closed "
                             "the simulator keeps running until Ctrl-C/SIGTERM")
    parser.add_argument("--json", action="store_true",
                        help="script mode: one JSON object per MO on stdout")
    parser.add_argument("--reply-timeout", type=float, default=5.0,
                        help="script mode: seconds to wait for each reply (default 5)")
    subs = parser.add_subparsers(dest="mode")
    load = subs.add_parser("load", help="offer N texts and report throughput and latency")
    _server_options(load, sub=True)
    load.add_argument("--count", type=int, default=1000)
    load.add_argument("--numbers", type=int, default=100)
    load.add_argument("--rate", type=float, default=0.0,
                      help="MO per second; 0 = as fast as the window allows")
    load.add_argument("--drain-timeout", type=float, default=10.0,
                      help="seconds to wait for outstanding acks and replies at the end")
    load.add_argument("--receivers", type=int, default=1,
                      help="receiving binds to wait for before starting")
    load.add_argument("--no-replies", action="store_true",
                      help="the ESME is not expected to reply (measure acks only)")
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--report", type=Path, help="write the report as JSON here")
    ceiling = subs.add_parser("ceiling",
                              help="the simulator's own deliver_sm/s against a minimal "
                                   "acknowledging ESME started as a subprocess")
    ceiling.add_argument("--count", type=int, default=100_000)
    ceiling.add_argument("--window", type=int, default=100)
    ceiling.add_argument("--receivers", type=int, default=1)
    ceiling.add_argument("--report", type=Path)
    ceiling.add_argument("--log-level", default="warning")
    return parser


def _config(args: argparse.Namespace, **overrides: Any) -> tuple[SimConfig, Faults]:
    config = SimConfig(
        host=args.host, port=args.port, system_id=args.system_id, password=args.password,
        short_number=args.short_number, window=args.window, max_attempts=args.max_attempts,
        retry_min=args.retry_min, retry_max=args.retry_max, receipts=not args.no_receipts,
        long_mode=args.long_mode, coding=args.coding, national=args.national,
        log_pdus=args.log_pdus, receipt_mix=args.receipt_mix,
        receipt_delay=args.receipt_delay, **overrides)
    faults = Faults(throttle_every=args.throttle_every, qfull_every=args.qfull_every,
                    drop_after=args.drop_after, delay_ms=args.delay_ms,
                    refuse_binds=args.refuse_binds)
    return config, faults


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    if args.mode == "ceiling":
        return _ceiling(args)
    if args.mode == "load":
        return _load(args)
    if args.script is not None:
        return _script(args)
    return _interactive(args)


def _ceiling(args: argparse.Namespace) -> int:
    report = asyncio.run(run_ceiling(args.count, args.window, args.receivers))
    print(format_report(report))
    print(f"ceiling: {report['ceiling_deliver_sm_per_s']:.0f} deliver_sm/s "
          f"({report['cpus']} CPUs, window {args.window}, {args.receivers} receiver(s))")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _load(args: argparse.Namespace) -> int:
    config, faults = _config(args, keep_history=False)
    opts = LoadOptions(count=args.count, numbers=args.numbers, rate=args.rate,
                       bind_timeout=args.bind_timeout, drain_timeout=args.drain_timeout,
                       expect_replies=not args.no_replies, seed=args.seed,
                       receivers=args.receivers)

    async def go() -> dict[str, Any]:
        sim = SmscSimulator(config=config, faults=faults)
        await sim.start()
        try:
            return await run_load(sim, opts)
        finally:
            await sim.stop()

    try:
        report = asyncio.run(go())
    except LoadError as err:
        print(f"smsc-sim load: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"smsc-sim load: cannot listen on {config.host}:{config.port}: {err}",
              file=sys.stderr)
        return 2
    print(format_report(report))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _print_reply(reply: Reply) -> None:
    latency = f"{reply.latency_ms:.0f} ms" if reply.latency_ms is not None else "unmatched"
    answer_to = f' to "{reply.mo_text}"' if reply.mo_text else ""
    parts = f", {reply.parts} parts" if reply.parts > 1 else ""
    print(f"\n← {reply.msisdn}: {reply.text}\n  (reply{answer_to} after {latency}, "
          f"data_coding {reply.data_coding}{parts})", flush=True)


def _interactive(args: argparse.Namespace) -> int:
    config, faults = _config(args)
    sim = SimulatorThread(config=config, faults=faults, on_reply=_print_reply)
    try:
        sim.start()
    except OSError as err:
        print(f"smsc-sim: cannot listen on {config.host}:{config.port}: {err}", file=sys.stderr)
        return 2
    print(f"smsc-sim on {config.host}:{sim.port}, system_id {config.system_id}, "
          f"short number {config.short_number}. Type help for commands.", flush=True)
    web = None
    if args.web is not None:
        from smsc_sim.web import WebConsole

        web = WebConsole(sim)
        try:
            web_port = web.serve(config.host, args.web)
        except OSError as err:
            print(f"smsc-sim: cannot serve the page on {config.host}:{args.web}: {err}",
                  file=sys.stderr)
            sim.stop()
            return 2
        print(f"web page on http://{config.host}:{web_port}/", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    session = Session(sim)
    try:
        while not session.quit:
            if _in_background():
                # `smsc-sim --web 8080 &` typed in a shell: reading the terminal now would
                # stop the whole job (SIGTTIN, "Stopped (tty input)") and with it the SMSC.
                # Serve without the prompt; it appears if the job is brought to the front.
                _wait_for_foreground()
                continue
            try:
                line = input("smsc> ")
            except (EOFError, RuntimeError):  # RuntimeError: no stdin at all (fd 0 closed)
                if web is not None:  # no prompt (stdin closed): serve on
                    threading.Event().wait()
                break
            try:
                session.run(line)
            except (CommandError, ValueError) as err:
                print(f"error: {err}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        if web is not None:
            web.stop()
        sim.stop()
    return 0


def _in_background() -> bool:
    """True when stdin is a terminal whose foreground process group is not ours (POSIX job
    control: a background job that reads its terminal is stopped)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) != os.getpgrp()
    except OSError:
        return False


def _wait_for_foreground() -> None:
    # The kernel tells a background job nothing when it is brought to the front (SIGCONT
    # is sent only to a stopped job), so look twice a second.
    pause = threading.Event()
    while _in_background():
        pause.wait(0.5)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _script(args: argparse.Namespace) -> int:
    """Play a script; exit status 0 iff every ``expect`` held (1 otherwise, 2 on errors)."""
    try:
        lines = args.script.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        print(f"smsc-sim: cannot read script: {err}", file=sys.stderr)
        return 2
    config, faults = _config(args)
    sim = SimulatorThread(config=config, faults=faults)
    try:
        sim.start()
    except OSError as err:
        print(f"smsc-sim: cannot listen on {config.host}:{config.port}: {err}", file=sys.stderr)
        return 2
    out_lock = threading.Lock()

    def say(text: str) -> None:
        if not args.json:
            with out_lock:
                print(text, flush=True)

    session = Session(sim, out=say)
    failed = 0
    record: dict[str, Any] | None = None

    def emit() -> None:
        if record is not None and args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)

    try:
        say(f"waiting for an ESME to bind on {config.host}:{sim.port} …")
        if not sim.wait_for_bind(args.bind_timeout):
            print(f"smsc-sim: no ESME bound within {args.bind_timeout:g} s", file=sys.stderr)
            return 2
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            word, _, rest = line.partition(" ")
            if word.lower() == "wait":
                time.sleep(float(rest))
                continue
            if word.lower() == "expect":
                wanted = rest.strip()
                got = record.get("reply") if record else None
                ok = got is not None and wanted.casefold() in got.casefold()
                if record is not None:
                    record.setdefault("expect", []).append(wanted)
                    record["ok"] = bool(record.get("ok", True) and ok)
                if ok:
                    say(f"  ✓ expect {wanted!r}")
                else:
                    failed += 1
                    say(f"  ✗ expect {wanted!r} (line {number}): got {got!r}")
                continue
            try:
                mo_id = session.run(line)
            except (CommandError, ValueError) as err:
                print(f"smsc-sim: line {number}: {err}", file=sys.stderr)
                return 2
            if mo_id is None:
                continue
            emit()
            msisdn, _, text = (line[5:] if line.lower().startswith("send ") else line
                               ).strip().partition(" ")
            record = {"line": number, "msisdn": msisdn, "text": text.strip(), "mo_id": mo_id,
                      "reply": None, "latency_ms": None}
            sim.wait_until(_replied_check(mo_id), args.reply_timeout)
            replies = [r for r in sim.replies() if r.mo_id == mo_id]
            if replies:
                record["reply"] = replies[0].text
                record["latency_ms"] = round(replies[0].latency_ms or 0.0, 1)
                record["replies"] = len(replies)
                say(f"← {replies[0].text}  ({record['latency_ms']} ms)")
            else:
                say(f"← (no reply within {args.reply_timeout:g} s)")
        emit()
    finally:
        sim.stop()
    if failed:
        say(f"{failed} expectation(s) failed")
        return 1
    return 0


def _replied_check(mo_id: int) -> Callable[[SmscSimulator], bool]:
    def check(sim: SmscSimulator) -> bool:
        return any(m.mo_id == mo_id and m.replies for m in reversed(sim.mos[-50:]))
    return check

