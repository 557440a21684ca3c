"""``consentctl check-config``: which file and which ``SMSGW_*`` variables were read, and the
settings that result, with only passwords masked (hosts, ports and databases stay visible)."""

from __future__ import annotations

import argparse
from typing import Any

from consentctl.cli import EXIT_OK, Context
from consentctl.output import print_json


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("check-config", parents=[common],
                       help="validate the configuration; say what was read; print it")
    p.add_argument("--json", action="store_true",
                   help="one object: file, chosen_by, environment, settings")
    p.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace, ctx: Context) -> int:
    from config.settings import source_for

    source = source_for(args.config)
    settings = ctx.settings.redacted()  # raises ConfigError (exit 2) naming key or variable
    if args.json:
        print_json({"file": str(source.path) if source.path else None,
                    "chosen_by": source.chosen_by, "environment": source.env,
                    "settings": settings})
        return EXIT_OK
    for line in source.lines():
        print(line)
    print("configuration is valid; in effect:")
    for section, values in settings.items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {_toml(value)}")
    return EXIT_OK


def _toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)
