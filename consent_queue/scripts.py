"""Lua scripts sent inside a pipeline as plain ``EVALSHA``, with the other commands of the
same round trip. redis-py's own script pipelining asks ``SCRIPT EXISTS`` before every
such pipeline — one round trip more than the script call itself saves; here a script
Redis does not hold (it restarted, or ``SCRIPT FLUSH``) answers ``NOSCRIPT``, and the
caller loads its scripts and sends the whole pipeline once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script


def missing(answers: Sequence[Any]) -> bool:
    """Whether a script of the pipeline answered NOSCRIPT (``execute(raise_on_error=False)``)."""
    return any(isinstance(a, redis.exceptions.NoScriptError) for a in answers)


def load(client: redis.Redis, scripts: Sequence[Script]) -> None:
    for s in scripts:
        s.sha = client.script_load(s.script)
