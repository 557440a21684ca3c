"""The SMPP round-trip ceiling: an smpplib ESME that does nothing but the SMPP part.

It binds as transceiver to the simulator, acknowledges every deliver_sm and answers each
subscriber text with one submit_sm (receipts are acknowledged only) — no queue, no
database, no parsing. What ``smsc-sim load`` measures against it is the most a Python ESME
on this machine can do per text with the same simulator, so ``make bench`` reads the
gateway's figure as a share of it (issue 15). It uses smpplib, not our codec, so the
ceiling does not move when our own SMPP code gets faster or slower.

    python -m bench.ceiling_esme --port P [--connect-timeout S]

It connects as soon as the simulator listens and exits when the link closes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

# SMPP 3.4 §5.2.12: esm_class bits 2-5 = 0001 marks an SMSC delivery receipt.
_RECEIPT = 0x04
_REPLY = b"OK"


class RoundTripEsme(smpplib.client.Client):  # type: ignore[misc]
    """deliver_sm_resp 0 first (as the gateway answers once a text is safe), then the
    submit_sm; both from the listening thread, so smpplib's writes never interleave."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, timeout=30, allow_unknown_opt_params=True)
        self.acknowledged = 0
        self.submitted = 0
        self.set_message_sent_handler(lambda pdu, **kw: None)
        # An error submit_sm_resp (throttling) must not raise out of listen() (SPEC §8).
        self.set_error_pdu_handler(lambda pdu: None)

    def _message_received(self, pdu: Any) -> None:
        resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=self,
                                     status=smpplib.consts.SMPP_ESME_ROK)
        resp.sequence = pdu.sequence
        self.send_pdu(resp)
        self.acknowledged += 1
        if int(pdu.esm_class or 0) & 0x3C == _RECEIPT:
            return
        self.send_message(
            source_addr_ton=0, source_addr_npi=1, source_addr=_text(pdu.destination_addr),
            dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=_text(pdu.source_addr), short_message=_REPLY,
            data_coding=0, registered_delivery=1)
        self.submitted += 1


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run(host: str, port: int, connect_timeout: float, system_id: str, password: str) -> int:
    deadline = time.monotonic() + connect_timeout
    esme = RoundTripEsme(host, port)
    while True:
        try:
            esme.connect()
            break
        except (smpplib.exceptions.ConnectionError, OSError):
            esme.disconnect()  # a refused socket cannot connect again: a fresh one next
            if time.monotonic() > deadline:
                print(f"ceiling_esme: nothing listens on {host}:{port}", file=sys.stderr)
                return 2
            time.sleep(0.05)
    esme.bind_transceiver(system_id=system_id, password=password)
    try:
        esme.listen()
    except (TimeoutError, smpplib.exceptions.ConnectionError, OSError):
        pass  # the simulator closed the link: the run is over
    esme.disconnect()
    print(f"acknowledged {esme.acknowledged} deliver_sm, sent {esme.submitted} submit_sm")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--system-id", default="consentgw")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--connect-timeout", type=float, default=30.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # smpplib warns of every closed socket
    return run(args.host, args.port, args.connect_timeout, args.system_id, args.password)


if __name__ == "__main__":
    sys.exit(main())
