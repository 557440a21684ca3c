"""A minimal ESME on raw asyncio (no smpplib): binds as transceiver, acknowledges every
deliver_sm and optionally answers each MO with a submit_sm. It measures the simulator's own
ceiling (``smsc-sim ceiling``), so it does as little per PDU as it can.

Run as ``python -m smsc_sim.esme --port P [--reply]``; it exits when the SMSC unbinds or
closes the link.
"""

from __future__ import annotations

import argparse
import asyncio
import struct

from smpp import codec
from smpp import constants as c

_HDR = struct.Struct(">IIII")


class AckingEsme(asyncio.Protocol):
    def __init__(self, system_id: str, password: str, reply: bool,
                 done: asyncio.Future[int]) -> None:
        self.system_id = system_id
        self.password = password
        self.reply = reply
        self.done = done
        self.reader = codec.FrameReader()
        self.transport: asyncio.Transport | None = None
        self.seq = 1
        self.delivered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        bind = codec.Pdu(c.BIND_TRANSCEIVER, 0, self.seq,
                       {"system_id": self.system_id, "password": self.password,
                        "interface_version": 0x34})
        transport.write(codec.encode(bind))

    def data_received(self, data: bytes) -> None:
        out: list[bytes] = []
        unpack = _HDR.unpack_from
        for frame in self.reader.feed(data):
            _, command_id, status, seq = unpack(frame)
            if command_id == c.DELIVER_SM:
                out.append(_HDR.pack(17, c.DELIVER_SM_RESP, 0, seq) + b"\x00")
                self.delivered += 1
                if self.reply:
                    out.append(self._reply(frame))
            elif command_id == c.ENQUIRE_LINK:
                out.append(_HDR.pack(16, c.ENQUIRE_LINK_RESP, 0, seq))
            elif command_id == c.UNBIND:
                out.append(_HDR.pack(16, c.UNBIND_RESP, 0, seq))
            elif command_id == c.BIND_TRANSCEIVER_RESP and status != 0:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(
                        f"bind refused: {c.status_name(status)}"))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _reply(self, frame: bytes) -> bytes:
        p = codec.decode(frame)
        if p.params.get("esm_class", 0) & c.ESM_DELIVERY_RECEIPT:
            return b""  # never answer a receipt
        self.seq += 1
        submit = codec.Pdu(c.SUBMIT_SM, 0, self.seq, {
            "source_addr_ton": 3, "source_addr": p.params["destination_addr"],
            "dest_addr_ton": p.params["source_addr_ton"], "dest_addr_npi": 1,
            "destination_addr": p.params["source_addr"],
            "data_coding": p.params["data_coding"],
            "short_message": ("OK ".encode("utf-16-be") if p.params["data_coding"] == 8
                              else b"OK ") + bytes(p.params["short_message"])[:100],
        })
        return codec.encode(submit)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.delivered)


async def run_esme(host: str, port: int, system_id: str = "consentgw",
                   password: str = "secret", reply: bool = False) -> int:  # noqa: S107
    """Bind, acknowledge until the link closes; returns how many deliver_sm it acknowledged."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    await loop.create_connection(lambda: AckingEsme(system_id, password, reply, done),
                                 host, port)
    return await done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--system-id", default="consentgw")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--reply", action="store_true", help="answer each MO with a submit_sm")
    args = parser.parse_args()
    n = asyncio.run(run_esme(args.host, args.port, args.system_id, args.password, args.reply))
    print(f"acknowledged {n} deliver_sm")


if __name__ == "__main__":
    main()
