"""Runs ``consent-api run`` as a process next to a pipeline's gateway and workers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.pipeline import BIN, Pipeline, Proc
from tests.support.servers import wait_port


@dataclass
class Api:
    pipeline: Pipeline
    proc: Proc
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kw)

    def token(self, name: str, scopes: str) -> str:
        out = self.pipeline.ctl("api-token", "create", name, "--scopes", scopes).stdout
        return out.strip().splitlines()[-1]


def start_api(p: Pipeline) -> Api:
    """Start the API of pipeline ``p`` (whose config has an ``[api]`` section with a port)."""
    port = int(p.sections["api"]["port"])
    proc = Proc("api", [str(BIN / "consent-api"), "run"], p.env, p.workdir / "api.log")
    p.procs.append(proc)
    proc.start()
    try:
        wait_port(port, 60)
    except TimeoutError:
        raise AssertionError(proc.log()[-3000:]) from None
    return Api(p, proc, port)


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json"), \
        response.text
    data: dict[str, Any] = json.loads(response.text)
    return data
