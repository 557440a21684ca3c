"""``smsc-sim --web PORT`` in a real headless browser (Debian's chromium through
Playwright): type as a phone, see the replies with their coding and parts, trigger a fault.
The simulator runs as the console command; the ESME answering it is smpplib."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.gsm

from tests.sim.conftest import Esme, free_port, wait

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
                 if os.path.exists(p)), None) or shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
SIM = str(Path(sys.executable).with_name("smsc-sim"))
LONG = "Piekrišana JAUNUMI saņemta. " * 8  # UCS2, more than one part


def answer(esme: Esme, p: Any) -> None:
    text = (p.short_message or b"").decode("latin-1")
    if int(p.esm_class) & 0x04:
        return  # a receipt
    dest = p.source_addr.decode()
    if text == "JAUNUMI":
        parts, coding, esm_class = smpplib.gsm.make_parts(LONG)
        for part in parts:
            esme.client.send_message(source_addr="29307777", dest_addr_ton=1,
                                     destination_addr=dest, short_message=part,
                                     data_coding=coding, esm_class=esm_class)
    else:
        esme.client.send_message(source_addr="29307777", dest_addr_ton=1, destination_addr=dest,
                                 short_message="Piekrišana VIETA saņemta".encode("utf-16-be"),
                                 data_coding=8)


@pytest.fixture
def web_sim() -> Iterator[tuple[int, int]]:
    smpp, web = free_port(), free_port()
    proc = subprocess.Popen([SIM, "--port", str(smpp), "--web", str(web), "--log-level",
                             "warning"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline() + proc.stdout.readline()  # type: ignore[union-attr]
    assert f"http://127.0.0.1:{web}/" in line, line
    yield smpp, web
    proc.terminate()
    assert proc.wait(10) == 0


def test_tester_types_as_a_phone_and_sees_replies_and_faults(web_sim: tuple[int, int]) -> None:
    from playwright.sync_api import expect, sync_playwright

    smpp, web = web_sim
    esme = Esme(smpp, handler=answer)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{web}/")
            expect(page.locator("#status")).to_contain_text("1 ESME bind(s)")

            page.fill("#msisdn", "37129123456")
            page.fill("#text", "VIETA")
            page.click("#send")
            mo = page.locator(".msg.mo").last
            expect(mo.locator(".text")).to_have_text("VIETA")
            expect(mo.locator(".meta")).to_have_text("data_coding 0, 1 part")
            reply = page.locator(".msg.reply").last
            expect(reply.locator(".text")).to_have_text("Piekrišana VIETA saņemta")
            expect(reply.locator(".meta")).to_contain_text("data_coding 8, 1 part, after")

            page.fill("#text", "JAUNUMI")
            page.press("#text", "Enter")
            expect(page.locator(".msg.reply")).to_have_count(2)
            long_reply = page.locator(".msg.reply").last
            expect(long_reply.locator(".text")).to_have_text(LONG)
            expect(long_reply.locator(".meta")).to_contain_text("parts")
            assert "1 part" not in long_reply.locator(".meta").inner_text()

            page.get_by_role("button", name="fault throttle 3").click()
            expect(page.locator("#output")).to_have_text("fault throttle 3")
            expect(page.locator("#status")).to_contain_text("throttle_every=3")
            page.fill("#command", "fault nonsense")
            page.press("#command", "Enter")
            expect(page.locator("#error")).to_contain_text("unknown fault")
            page.get_by_role("button", name="fault off").click()
            expect(page.locator("#status")).to_contain_text("faults: none")

            page.fill("#msisdn", "not a number")
            page.fill("#text", "VIETA")
            page.click("#send")
            expect(page.locator("#error")).to_contain_text("not a phone number")
            browser.close()
        assert wait(lambda: len(esme.received) >= 2, 5)
    finally:
        esme.close()
