"""``smsc-sim --web PORT``: a page where a tester types as a phone and watches the
conversation — replies with their data_coding and parts — and triggers the faults the
prompt knows. Uses only the simulator's public API (``SimulatorThread`` and the prompt's
``Session`` command language), so it works the same whatever drives the SMPP side.

Served by the standard library's threading HTTP server on the simulator's host (loopback
by default): ``GET /`` the page, ``GET /api/state?msisdn=N`` the conversation and
simulator state as JSON, ``POST /api/send`` ``{"msisdn", "text", "coding"}``,
``POST /api/command`` ``{"command": "fault throttle 3"}`` (any prompt command but
sending and quitting).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from smsc_sim.commands import CommandError, Session
from smsc_sim.model import describe_faults
from smsc_sim.text import encode_text, split_parts
from smsc_sim.threaded import SimulatorThread

MAX_BODY = 64 * 1024
CODINGS = {"auto": None, "0": 0, "3": 3, "8": 8}
FAULT_BUTTONS = ("fault throttle 3", "fault qfull 3", "fault delay 500", "fault drop-after 5",
                 "fault refuse-bind 1", "fault unbind", "fault drop", "fault off",
                 "receipts on", "receipts off")


@dataclass
class SentText:
    mo_id: int
    msisdn: str
    text: str
    coding: int
    parts: int
    at: float


class WebConsole:
    """The page's state: the texts sent from it, and the simulator it drives."""

    def __init__(self, sim: SimulatorThread) -> None:
        self.sim = sim
        self.sent: list[SentText] = []
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- actions -----------------------------------------------------------------------
    def send(self, msisdn: str, text: str, coding: str = "auto") -> SentText:
        digits = msisdn.strip().lstrip("+")
        if not digits.isdigit() or not 3 <= len(digits) <= 15:
            raise CommandError(f"not a phone number: {msisdn!r}")
        if coding not in CODINGS:
            raise CommandError(f"coding must be one of {', '.join(CODINGS)}")
        used, octets = encode_text(text, CODINGS[coding])
        parts = len(split_parts(used, octets))
        mo_id = self.sim.send_mo(digits, text, coding=CODINGS[coding])
        sent = SentText(mo_id, digits, text, used, parts, time.time())
        with self._lock:
            self.sent.append(sent)
        return sent

    def command(self, line: str) -> list[str]:
        word = line.strip().split(" ", 1)[0].lower()
        if not word or word.lstrip("+").isdigit() or word in ("send", "quit", "exit", "q"):
            raise CommandError("send texts with the form; commands here: fault …, receipts …, "
                               "coding/national/long are per text")
        out: list[str] = []
        Session(self.sim, out=out.append).run(line)
        return out

    # --- reading -----------------------------------------------------------------------
    def state(self, msisdn: str | None) -> dict[str, Any]:
        replies = self.sim.replies()
        with self._lock:
            sent = list(self.sent)
        numbers = sorted({s.msisdn for s in sent} | {r.msisdn for r in replies})
        conversation: list[dict[str, Any]] = []
        if msisdn:
            key = msisdn.lstrip("+")
            conversation += [{"kind": "mo", "mo_id": s.mo_id, "text": s.text,
                              "data_coding": s.coding, "parts": s.parts, "at": s.at}
                             for s in sent if s.msisdn == key]
            conversation += [{"kind": "reply", "mo_id": r.mo_id, "text": r.text,
                              "data_coding": r.data_coding, "parts": r.parts,
                              "answers": r.mo_text, "latency_ms": r.latency_ms,
                              "at": r.received_at} for r in replies if r.msisdn == key]
            conversation.sort(key=lambda e: e["at"])
        stats = self.sim.stats()
        faults = describe_faults(stats.get("faults") or {})
        return {"numbers": numbers, "conversation": conversation,
                "binds": len(stats.get("binds", [])), "faults": faults,
                "receipts": stats.get("receipts"), "receipt_policy": stats.get("receipt_policy"),
                "buttons": list(FAULT_BUTTONS)}

    # --- serving -----------------------------------------------------------------------
    def serve(self, host: str, port: int) -> int:
        """Start serving in a thread; returns the port (``port=0`` picks a free one)."""
        console = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "smsc-sim-web"

            def log_message(self, format: str, *args: Any) -> None:
                return  # the simulator logs what matters; no access log on the prompt

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/":
                    self._reply(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
                elif url.path == "/api/state":
                    number = parse_qs(url.query).get("msisdn", [""])[0]
                    self._json(HTTPStatus.OK, console.state(number or None))
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})

            def do_POST(self) -> None:
                try:
                    body = self._body()
                    if self.path == "/api/send":
                        s = console.send(str(body.get("msisdn", "")), str(body.get("text", "")),
                                         str(body.get("coding", "auto")))
                        self._json(HTTPStatus.OK, {"mo_id": s.mo_id, "data_coding": s.coding,
                                                   "parts": s.parts})
                    elif self.path == "/api/command":
                        self._json(HTTPStatus.OK,
                                   {"output": console.command(str(body.get("command", "")))})
                    else:
                        self._json(HTTPStatus.NOT_FOUND, {"error": f"no such action: {self.path}"})
                except (CommandError, ValueError) as exc:
                    self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ValueError("request too large")
                data = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                return data

            def _json(self, status: HTTPStatus, data: Any) -> None:
                self._reply(status, json.dumps(data, ensure_ascii=False).encode(),
                            "application/json; charset=utf-8")

            def _reply(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="smsc-sim-web",
                         daemon=True).start()
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smsc-sim</title>
<style>
body{font:15px system-ui,sans-serif;margin:0;display:flex;height:100vh}
aside{width:300px;padding:12px;background:#f3f3f3;overflow:auto}
main{flex:1;display:flex;flex-direction:column;padding:12px}
#conversation{flex:1;overflow:auto;border:1px solid #ccc;padding:8px;background:#fff}
.msg{max-width:70%;margin:6px 0;padding:6px 10px;border-radius:10px;white-space:pre-wrap}
.mo{background:#dcf8c6;margin-left:auto}.reply{background:#e8e8ff}
.meta{font-size:12px;color:#555}#error{color:#b00}button{margin:2px}
form{display:flex;gap:6px;margin-top:8px}#text{flex:1}
</style></head><body>
<aside>
<h3>Phone</h3>
<label>Number <input id="msisdn" list="numbers" value="37129123456" size="14"></label>
<datalist id="numbers"></datalist>
<p>Coding <select id="coding"><option value="auto">auto</option>
<option value="0">0 GSM</option><option value="3">3 Latin-1</option>
<option value="8">8 UCS2</option></select></p>
<h3>Simulator</h3>
<p id="status">…</p>
<div id="buttons"></div>
<form id="cmdform"><input id="command" placeholder="fault malformed bad_length"><button>Run</button></form>
<pre id="output"></pre>
</aside>
<main>
<div id="conversation"></div>
<form id="sendform"><input id="text" placeholder="VIETA" autocomplete="off">
<button id="send">Send</button></form>
<div id="error"></div>
</main>
<script>
const $ = id => document.getElementById(id);
async function post(path, data) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                               body: JSON.stringify(data)});
  const body = await r.json();
  $("error").textContent = r.ok ? "" : body.error;
  return body;
}
function bubble(e) {
  const div = document.createElement("div");
  div.className = "msg " + e.kind;
  div.dataset.kind = e.kind;
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = e.text === "" ? "(empty text)" : e.text;
  const meta = document.createElement("div");
  meta.className = "meta";
  let m = "data_coding " + e.data_coding + ", " + e.parts + (e.parts === 1 ? " part" : " parts");
  if (e.kind === "reply") {
    m += e.latency_ms == null ? ", unmatched" : ", after " + Math.round(e.latency_ms) + " ms";
  }
  meta.textContent = m;
  div.append(text, meta);
  return div;
}
let shown = "";
async function refresh() {
  const r = await fetch("/api/state?msisdn=" + encodeURIComponent($("msisdn").value.trim()));
  const s = await r.json();
  const key = JSON.stringify(s.conversation);
  if (key !== shown) {
    shown = key;
    $("conversation").replaceChildren(...s.conversation.map(bubble));
    $("conversation").scrollTop = 1e9;
  }
  $("numbers").replaceChildren(...s.numbers.map(n => {
    const o = document.createElement("option"); o.value = n; return o; }));
  $("status").textContent = s.binds + " ESME bind(s); faults: " + s.faults +
    "; receipts " + (s.receipts ? "on" : "off") + " (" + s.receipt_policy.mix + ")";
  if (!$("buttons").childElementCount) {
    for (const c of s.buttons) {
      const b = document.createElement("button");
      b.textContent = c; b.type = "button";
      b.onclick = async () => { const o = await post("/api/command", {command: c});
                                $("output").textContent = (o.output || []).join("\\n"); };
      $("buttons").append(b);
    }
  }
}
$("sendform").onsubmit = async ev => {
  ev.preventDefault();
  await post("/api/send", {msisdn: $("msisdn").value, text: $("text").value,
                           coding: $("coding").value});
  $("text").value = "";
  refresh();
};
$("cmdform").onsubmit = async ev => {
  ev.preventDefault();
  const o = await post("/api/command", {command: $("command").value});
  $("output").textContent = (o.output || []).join("\\n");
  refresh();
};
$("msisdn").onchange = refresh;
refresh(); setInterval(refresh, 500);
</script></body></html>
"""
