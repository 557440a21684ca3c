"""A Redis client whose next transaction runs but whose answer is lost: what a connection
broken right after EXEC looks like to the caller (the fault tests do it with a real proxy,
tests/support/tcpproxy.py; this is for the fast tests over fakeredis)."""

from __future__ import annotations

from typing import Any


def lose_next_transaction_answer(client: Any, error: Exception) -> list[bool]:
    """Make ``client``'s next transactional pipeline execute and then raise ``error``.
    Returns a flag list: ``[True]`` until that has happened, then ``[False]``."""
    real = client.pipeline
    pending = [True]

    def pipeline(transaction: bool = True, shard_hint: Any = None) -> Any:
        p = real(transaction=transaction, shard_hint=shard_hint)
        if transaction and pending[0]:
            run = p.execute

            def execute_then_lose_answer(raise_on_error: bool = True) -> Any:
                run(raise_on_error)
                pending[0] = False
                raise error
            p.execute = execute_then_lose_answer
        return p

    client.pipeline = pipeline
    return pending
