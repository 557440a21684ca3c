"""``consentctl status``: one screen for an operator — links, queues, workers, failed jobs,
today's traffic.

Each part is read on its own, so Redis or the database being down costs only the parts
that need it; the screen says what could not be read and the exit status is then 5.
With both reachable, the exit status is 7 (degraded) when no gateway has a bound SMPP link,
a reporting gateway's link is not bound (or its report is stale), or an event shard has no
worker; 0 only when all is healthy. The reasons are listed under "Health".
"""

from __future__ import annotations

import argparse
from typing import Any

import redis

from consent_core.instants import iso, iso_at, parse_instant
from consent_queue import persistence
from consent_queue.backlog import Backlog
from consent_queue.keys import Keys
from consentctl.cli import EXIT_DEGRADED, EXIT_OK, EXIT_UNAVAILABLE, Context
from consentctl.jobs import failed_registries, redis_for, redis_where
from consentctl.output import print_json, print_table

# The gateway refreshes its hash every 5 s while bound (gateway/daemon.py) and the hash
# expires after 60 s; a report older than this is shown as stale.
STALE_AFTER_S = 30
DB_CONNECT_TIMEOUT_S = 3
ACTION_ORDER = ("give", "withdraw", "unknown")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="links, queue depths, workers, failed jobs, today's counts")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=status)


def status(args: argparse.Namespace, ctx: Context) -> int:
    report = collect(ctx)
    if args.json:
        print_json(report)
    else:
        render(report)
    if not (report["redis"]["ok"] and report["database"]["ok"]):
        return EXIT_UNAVAILABLE
    return EXIT_DEGRADED if report["problems"] else EXIT_OK


def problems(report: dict[str, Any], shards: int, event_queue: Any) -> list[str]:
    """Why the service is degraded, one line each; empty when healthy (Redis must be read)."""
    if report["gateways"] is None or report["workers"] is None:
        return []  # Redis unreachable: exit 5 says it already
    out: list[str] = []
    gateways = report["gateways"]
    bound = [g for g in gateways if g.get("state") == "bound" and not g["stale"]]
    if not bound:
        out.append("no gateway has a bound SMPP link" if gateways
                   else "no gateway has reported (none running?)")
    for g in gateways:
        if g.get("state") == "gone":
            continue  # listed; counts only through "no gateway bound" above
        if g.get("state") != "bound":
            out.append(f"gateway {g['instance']}: SMPP link {g.get('state', '?')}")
        elif g["stale"]:
            out.append(f"gateway {g['instance']}: report older than {STALE_AFTER_S} s")
    bl = report.get("backlog")
    if bl and bl["bound"] is not None and bl["texts"] >= bl["bound"]:
        out.append(f"backlog at its bound ({bl['texts']} texts, gateway.max_backlog "
                   f"{bl['bound']}): new texts are refused for now")
    kept = report["redis"].get("persistence")
    if kept is not None and not kept["ok"]:
        out.append(f"Redis: {kept['problem']}")
    served = {q for w in report["workers"] for q in w["queues"]}
    for shard in range(shards):
        if event_queue(shard) not in served:
            out.append(f"shard {shard} ({event_queue(shard)}): no worker")
    return out


# ------------------------------------------------------------------ reading

def collect(ctx: Context) -> dict[str, Any]:
    now = ctx.clock().timestamp()
    report: dict[str, Any] = {"at": iso_at(now, "seconds")}
    report["redis"] = {"url": redis_where(ctx.settings), "ok": False, "error": None}
    report.update(gateways=None, queues=None, workers=None, failed_jobs=None)
    client = redis_for(ctx.settings)
    try:
        client.ping()
        report["redis"]["ok"] = True
        report["redis"]["persistence"] = persistence.read(client).to_dict()
        report.update(_from_redis(client, ctx, now))
    except redis.RedisError as exc:
        report["redis"]["ok"] = False
        report["redis"]["error"] = str(exc)
    finally:
        client.close()
    report["last_text_at"] = max((g["last_text_at"] for g in report["gateways"] or []
                                  if g.get("last_text_at")), default=None)
    report["database"], report["today"], report["directory_sync"] = _from_database(ctx)
    keys = Keys.from_settings(ctx.settings)
    report["problems"] = problems(report, keys.shards, keys.event_queue)
    return report


def _from_redis(client: redis.Redis, ctx: Context, now: float) -> dict[str, Any]:
    from rq import Queue, Worker
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    keys = Keys.from_settings(ctx.settings)
    gateways: list[dict[str, Any]] = []
    for raw in sorted(client.smembers(keys.gateways)):
        instance = _text(raw)
        data = {_text(k): _text(v)
                for k, v in client.hgetall(keys.link_state(instance)).items()}
        if not data:
            gateways.append({"instance": instance, "state": "gone", "stale": True})
            continue
        updated = _parse(data.get("updated_at", ""))
        stale = updated is None or now - updated > STALE_AFTER_S
        gateways.append({"instance": instance, **data, "stale": stale})

    queues: dict[str, dict[str, int]] = {}
    failed = {r.name: r.get_job_count(cleanup=False) for r in failed_registries(client, keys)}
    for name in keys.rq_queues:
        running = StartedJobRegistry(name, connection=client, serializer=JSONSerializer)
        queues[name] = {"waiting": int(client.llen(Queue(name, connection=client).key)),
                        "running": running.get_job_count(cleanup=False),
                        "failed": failed.get(name, 0)}
    inflight = sum(int(client.llen(keys.inflight(g["instance"]))) for g in gateways)
    queues["replies"] = {"waiting": int(client.llen(keys.replies)), "sending": inflight}

    ours = set(keys.rq_queues)
    workers: list[dict[str, Any]] = []
    for w in Worker.all(connection=client, serializer=JSONSerializer):
        names = w.queue_names()
        if not ours.intersection(names):
            continue  # another application's worker on the same Redis
        beat = w.last_heartbeat
        workers.append({
            "name": w.name, "state": str(w.get_state()), "queues": names,
            "current_job": w.get_current_job_id(),
            "last_heartbeat": iso(beat, "seconds")
            if beat else None,
            "jobs_done": w.successful_job_count, "jobs_failed": w.failed_job_count,
        })
    workers.sort(key=lambda w: w["name"])
    bound = ctx.settings.gateway.max_backlog
    backlog = {"texts": Backlog(client, keys).size(), "bound": bound or None}
    return {"gateways": gateways, "queues": queues, "workers": workers,
            "failed_jobs": sum(failed.values()), "backlog": backlog}


def _from_database(ctx: Context) -> tuple[dict[str, Any], dict[str, dict[str, int]] | None,
                                          dict[str, Any] | None]:
    from consent_store.engine import make_engine
    from consent_store.errors import StoreError, safe_url
    from consent_store.store import ConsentStore

    url = ctx.database_url
    info: dict[str, Any] = {"url": safe_url(url), "ok": False, "error": None}
    store = None
    try:
        # A database host that drops packets must not hang the operator's screen.
        store = ConsentStore(make_engine(_with_connect_timeout(url)), clock=ctx.clock)
        counts = store.counts_today()
        last_sync = store.last_directory_sync()
    except StoreError as exc:
        info["error"] = str(exc)
        return info, None, None
    finally:
        if store is not None:
            store.close()
    info["ok"] = True
    return info, counts, last_sync


def _with_connect_timeout(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    return parsed.update_query_dict(
        {"connect_timeout": str(DB_CONNECT_TIMEOUT_S)}).render_as_string(hide_password=False)


# ------------------------------------------------------------------ printing

def render(r: dict[str, Any]) -> None:
    print(f"consent gateway status at {r['at']}")
    print(f"  Redis     {r['redis']['url']}: {_ok(r['redis'])}")
    kept = r["redis"].get("persistence")
    if kept is not None:
        print("            persistence: " + ("AOF on" if kept["ok"] else f"AT RISK: {kept['problem']}"))
    print(f"  database  {r['database']['url']}: {_ok(r['database'])}")

    print("\nSMPP links")
    if r["gateways"] is None:
        print("  unknown (Redis unreachable)")
    elif not r["gateways"]:
        print("  no gateway has reported (none started on this Redis and key prefix?)")
    else:
        rows: list[tuple[Any, ...]] = []
        for g in r["gateways"]:
            state = g.get("state", "?") + (" (stale)" if g["stale"] and g["state"] != "gone" else "")
            since = g.get("since") if g.get("state") == "bound" else None
            rows.append((g["instance"], state, g.get("smsc"), since or None,
                         g.get("received"), g.get("queued"), g.get("replies_sent"),
                         g.get("updated_at")))
        # RECEIVED counts every deliver_sm (receipts too), QUEUED the subscriber texts.
        print_table(["  INSTANCE", "STATE", "SMSC", "BOUND SINCE", "RECEIVED", "QUEUED",
                     "REPLIES", "REPORTED"], [("  " + str(row[0]), *row[1:]) for row in rows])
        if any(g["state"] == "gone" for g in r["gateways"]):
            print("  gone: no report for 60 s (stopped, crashed, or renamed)")

    print("\nQueues")
    if r["queues"] is None:
        print("  unknown (Redis unreachable)")
    else:
        rows = [(f"  {name}", q["waiting"], q["running"], q["failed"])
                for name, q in r["queues"].items() if name != "replies"]
        print_table(["  QUEUE", "WAITING", "RUNNING", "FAILED"], rows)
        rep = r["queues"]["replies"]
        print(f"  replies: {rep['waiting']} waiting, {rep['sending']} being sent")
        bl = r.get("backlog") or {"texts": 0, "bound": None}
        if bl["bound"] is None:
            limit = "no bound"
        elif bl["texts"] >= bl["bound"]:
            limit = f"AT BOUND {bl['bound']}: new texts get the temporary error"
        else:
            limit = f"bound {bl['bound']}"
        print(f"  backlog: {bl['texts']} texts queued, not yet applied ({limit})")

    print("\nWorkers")
    if r["workers"] is None:
        print("  unknown (Redis unreachable)")
    elif not r["workers"]:
        print("  none running: queued texts wait until a worker starts")
    else:
        print_table(["  NAME", "STATE", "QUEUES", "DONE", "FAILED", "HEARTBEAT"],
                    [(f"  {w['name']}", w["state"], ",".join(w["queues"]), w["jobs_done"],
                      w["jobs_failed"], w["last_heartbeat"]) for w in r["workers"]])

    if r["failed_jobs"] is None:
        print("\nFailed jobs: unknown (Redis unreachable)")
    else:
        hint = "  (consentctl jobs failed)" if r["failed_jobs"] else ""
        print(f"\nFailed jobs: {r['failed_jobs']}{hint}")
    if r["gateways"] is not None:
        print("\nHealth: " + ("ok" if not r["problems"] else "DEGRADED"))
        for line in r["problems"]:
            print(f"  {line}")
    last = r["last_text_at"]
    if last:
        print(f"Last text received: {last}")
    elif r["gateways"] is None:
        print("Last text received: unknown (Redis unreachable)")
    else:
        print("Last text received: none since the running gateways started")

    print("\n" + directory_line(r.get("directory_sync"), r["database"]["ok"]))

    print("\nToday (since 00:00 UTC)")
    today = r["today"]
    if today is None:
        print("  unknown (database unreachable)")
    elif not today:
        print("  nothing recorded yet")
    else:
        seen = {a for per in today.values() for a in per}
        actions = [a for a in ACTION_ORDER if a in seen] + sorted(seen - set(ACTION_ORDER))
        rows = [(f"  {consent}", *(per.get(a, 0) for a in actions), sum(per.values()))
                for consent, per in sorted(today.items())]
        print_table(["  CONSENT", *(a.upper() for a in actions), "TOTAL"], rows)


def directory_line(last: dict[str, Any] | None, readable: bool) -> str:
    """One line about the last ``subscribers sync``: when, how it ended, what it counted."""
    if not readable:
        return "Directory sync: unknown (database unreachable)"
    if last is None:
        return "Directory sync: none recorded (consentctl subscribers sync)"
    counts = ", ".join(f"{last[k]} {k.replace('_', ' ')}" for k in
                       ("added", "changed_group", "changed_independence", "left", "new_holder"))
    line = (f"Directory sync: {last['outcome'].upper().replace('_', ' ')} {last['finished_at']} "
            f"({last['source']}: {last['rows']} rows, {last['bad_rows']} bad; {counts})")
    if last["outcome"] == "refused":
        line += f"\n  refused: {last['detail']}"
    if last["outcome"] != "applied":
        line += f"\n  last applied: {last.get('last_applied_at') or 'never'}"
    if last["pending_changes"]:
        line += (f"\n  {last['pending_changes']} consent changes not yet queued (Redis was "
                 "unreachable; the next sync or subscriber update queues them)")
    return line


def _ok(part: dict[str, Any]) -> str:
    return "ok" if part["ok"] else f"UNREACHABLE — {part['error']}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _parse(text: str) -> float | None:
    try:
        return parse_instant(text).timestamp()
    except ValueError:
        return None
