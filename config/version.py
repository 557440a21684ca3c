"""``--version`` for every console command: the installed package's version."""

from __future__ import annotations

import argparse
from importlib import metadata

DISTRIBUTION = "lmt-consent-sms-gateway"


def package_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    """``PROG --version`` prints ``PROG VERSION`` and exits 0 (before any configuration)."""
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version()} ({DISTRIBUTION})")
