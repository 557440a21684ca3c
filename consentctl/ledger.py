"""``consentctl verify [MSISDN] [--digests DIR --public-key FILE]``: recompute the ledger's
hash chains and check it against the signed checkpoints; ``keygen``, ``digest`` and
``verify-receipt`` (docs/store.md, "Hash chain" and "Merkle log and checkpoints")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from consentctl.cli import EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED, Context, msisdn_arg
from consentctl.output import print_json


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("verify", parents=[common],
                       help="recompute the ledger's hash chains, and with --digests check it "
                            "against the signed checkpoints (exit 8 when anything is broken)")
    p.add_argument("msisdn", nargs="?", type=msisdn_arg, metavar="MSISDN",
                   help="only this number's chains (default: the whole ledger); the "
                        "checkpoints are always checked over the whole ledger")
    p.add_argument("--digests", type=Path, metavar="DIR",
                   help="the checkpoints (ledger.digest_dir, or a copy from write-once storage)")
    p.add_argument("--public-key", type=Path, action="append", default=[], metavar="FILE",
                   help="a public key the checkpoints may be signed with (repeat for every "
                        "key used since a rotation)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=verify)

    k = sub.add_parser("keygen", parents=[common],
                       help="write a new Ed25519 signing key: PATH (0600) and PATH.pub")
    k.add_argument("path", type=Path, metavar="PATH")
    k.add_argument("--json", action="store_true")
    k.set_defaults(handler=keygen)

    d = sub.add_parser("digest", parents=[common],
                       help="sign a checkpoint of the ledger into ledger.digest_dir now")
    d.add_argument("--json", action="store_true")
    d.set_defaults(handler=digest)

    r = sub.add_parser("verify-receipt", parents=[common],
                       help="check a receipt, or every receipt of an export, offline "
                            "(exit 8 when one fails)")
    r.add_argument("file", type=Path, metavar="FILE",
                   help="one event with its proof, or a whole `consentctl export`")
    r.add_argument("--public-key", type=Path, action="append", required=True, metavar="KEY")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=verify_receipt)


def verify(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.digests import DigestError, public_keys

    if args.digests is not None and not args.public_key:
        print("consentctl verify: --digests needs --public-key FILE", file=sys.stderr)
        return EXIT_USAGE
    if args.digests is not None and not args.digests.is_dir():
        # A mistyped path must not read as "no checkpoints, nothing to contradict".
        print(f"consentctl verify: --digests {args.digests} is not a directory",
              file=sys.stderr)
        return EXIT_USAGE
    report = ctx.store.verify(args.msisdn)
    scope = args.msisdn or "ledger"
    digests = None
    if args.digests is not None:
        try:
            digests = ctx.store.verify_digests(args.digests, public_keys(args.public_key))
        except DigestError as exc:
            print(f"consentctl verify: {exc}", file=sys.stderr)
            return EXIT_USAGE
    intact = report.intact and (digests is None or digests.intact)
    if args.json:
        out = {"scope": scope, **report.to_dict()}
        if digests is not None:
            out["digests"] = digests.to_dict()
        print_json(out)
    else:
        if report.first_break is None:
            print(f"{scope}: intact ({report.rows} rows in {report.chains} chains)")
        else:
            b = report.first_break
            print(f"{scope}: BROKEN ({report.broken_chains} of {report.chains} chains); "
                  f"first broken event {b.event_id or '-'} (chain {b.chain_id}, position "
                  f"{b.chain_seq if b.chain_seq is not None else '-'}): {b.problem}")
        if digests is not None:
            _print_digests(digests)
    return EXIT_OK if intact else EXIT_VERIFY_FAILED


def _print_digests(d: Any) -> None:
    if d.first_problem is not None:
        print(f"checkpoints: BROKEN: {d.first_problem.problem}")
    elif d.latest is None:
        print(f"checkpoints: none published; {d.rows} rows not yet covered")
    else:
        print(f"checkpoints: intact ({d.checkpoints} checkpoints; the latest, "
              f"{d.latest.tree_size} rows at {d.summary_time()}, is a prefix of the ledger)")
    if d.latest is not None:
        print(f"not yet covered: {d.not_yet_covered} rows after checkpoint "
              f"{d.latest.tree_size}")


def keygen(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.digests import DigestError, generate_key

    try:
        kid = generate_key(args.path)
    except (DigestError, OSError) as exc:
        print(f"consentctl keygen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json({"key_id": kid, "private": str(args.path), "public": f"{args.path}.pub"})
        return EXIT_OK
    print(f"key {kid}: private {args.path} (mode 0600; set ledger.signing_key to it), "
          f"public {args.path}.pub (give it to whoever verifies)")
    return EXIT_OK


def digest(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.digests import DigestError, load_private_key

    ledger = ctx.settings.ledger
    if not ledger.digest_dir or not ledger.signing_key:
        print("consentctl digest: set ledger.digest_dir and ledger.signing_key "
              "(SMSGW_LEDGER__DIGEST_DIR, SMSGW_LEDGER__SIGNING_KEY)", file=sys.stderr)
        return EXIT_USAGE
    try:
        key = load_private_key(Path(ledger.signing_key))
        done = ctx.store.publish_checkpoint(Path(ledger.digest_dir), key)
    except DigestError as exc:
        print(f"consentctl digest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cp = done.checkpoint
    if args.json:
        print_json({"new": done.new, **cp.summary()})
    elif done.new:
        print(f"checkpoint {cp.tree_size} written to {ledger.digest_dir} "
              f"(root {cp.root_hash.hex()}, key {cp.key_id})")
    else:
        print(f"the ledger has not grown since checkpoint {cp.tree_size}; nothing written")
    return EXIT_OK


def verify_receipt(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store import receipts
    from consent_store.digests import DigestError, public_keys

    try:
        document = json.loads(args.file.read_text())
        keys = public_keys(args.public_key)
        results = receipts.check(document, keys)
    except (OSError, ValueError, DigestError, KeyError, TypeError) as exc:
        print(f"consentctl verify-receipt: {args.file}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    bad = [(e, why) for e, why in results if why is not None]
    if args.json:
        print_json({"receipts": len(results), "verified": len(results) - len(bad),
                    "failed": [{"event_id": e, "problem": why} for e, why in bad]})
    else:
        for event_id, why in results:
            print(f"{event_id}: {'verified' if why is None else 'FAILED: ' + why}")
        print(f"{len(results) - len(bad)} of {len(results)} receipts verified")
    return EXIT_VERIFY_FAILED if bad else EXIT_OK
