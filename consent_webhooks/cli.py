"""``consent-webhooks run``: deliver every consent change to the subscribed URLs.

A process of its own (one systemd unit, ``consent-webhooks.service``) rather than a thread
of the worker or the API: a receiver that hangs or fails holds up nothing else, it is
restarted and scaled on its own, and its metrics and alerts are its own. Several may run
(each subscription is leased to one at a time); one is enough.

Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 2 configuration error, 4 the store failed
at start-up (schema missing or old, database unreachable).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_STORE = 4


def build_parser() -> argparse.ArgumentParser:
    from config.version import add_version_argument

    parser = argparse.ArgumentParser(prog="consent-webhooks",
                                     description="Push every consent change to webhook "
                                                 "subscribers (consentctl webhook add).")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="settings file (default: $SMSGW_CONFIG, then "
                             "/etc/sms-gateway/gateway.toml)")
    add_version_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="deliver until SIGTERM")
    run.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    run.add_argument("--once", action="store_true",
                     help="one round for every due subscription, then exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from config.settings import settings_or_report

    args = build_parser().parse_args(argv)
    settings = settings_or_report("consent-webhooks", args.config)
    return EXIT_USAGE if settings is None else run(settings, once=args.once)


def run(settings: Any, *, once: bool = False) -> int:
    import structlog
    from prometheus_client import start_http_server

    from config.logs import configure_logging
    from config.notify import Notifier
    from consent_store.engine import make_engine, require_head
    from consent_store.errors import StoreError
    from consent_webhooks import metrics
    from consent_webhooks.deliver import Deliverer

    configure_logging(settings.log, service="consent-webhooks",
                      secrets=[settings.database.url.get_secret_value()])
    log = structlog.get_logger("webhooks")
    db = settings.database
    engine = make_engine(db.url.get_secret_value(), pool_size=db.pool_size)
    try:
        require_head(engine)
    except StoreError as exc:
        print(f"consent-webhooks: {exc}", file=sys.stderr)
        return EXIT_STORE
    except Exception as exc:  # the database did not answer
        print(f"consent-webhooks: database: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_STORE
    wh = settings.webhooks
    deliverer = Deliverer(engine, wh)
    if once:
        results = deliverer.run_once()
        deliverer.close()
        log.info("webhooks.once", rounds=len(results),
                 delivered=sum(r.delivered for r in results))
        return EXIT_OK
    if wh.metrics_port:
        start_http_server(wh.metrics_port, addr=settings.metrics.bind, registry=metrics.REGISTRY)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("webhooks.stopping", signal=signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    notifier = Notifier()
    log.info("webhooks.started", poll_interval=wh.poll_interval, concurrency=wh.concurrency,
             metrics_port=wh.metrics_port)
    notifier.ready("delivering")
    pinged = [0.0]

    def alive() -> None:  # WATCHDOG=1 from the loop itself, at most once a second
        now = time.monotonic()
        if now - pinged[0] >= 1.0:
            pinged[0] = now
            notifier.watchdog()

    deliverer.run(stop, on_tick=alive if notifier.watchdog_interval() else None)
    notifier.stopping()
    engine.dispose()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
