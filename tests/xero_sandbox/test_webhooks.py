"""Signed webhooks as Xero sends them: thin events about invoices, contacts and credit notes, in
batches, retried until the receiver takes them; and the intent-to-receive check."""
import base64
import hashlib
import hmac
import json
import re
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from xero_sandbox.__main__ import build_config, parse_args
from xero_sandbox.config import config_from_env
from xero_sandbox.seed import ORG1_TENANT_ID, ORG2_TENANT_ID

from .test_accounting import create_invoice, pay

KEY = "c2FuZGJveC13ZWJob29rLWtleQ=="


class Receiver:
    """A tiny webhook endpoint that checks signatures as an app should (401 when wrong) and records
    every request; ``statuses`` are answered first, whatever the signature."""

    def __init__(self, key: str = KEY):
        self.key = key
        self.statuses: deque = deque()
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = base64.b64encode(hmac.new(receiver.key.encode(), body, hashlib.sha256).digest()).decode()
                valid = hmac.compare_digest(expected, self.headers.get("x-xero-signature", ""))
                status = receiver.statuses.popleft() if receiver.statuses else (200 if valid else 401)
                receiver.requests.append({"body": body, "headers": dict(self.headers), "valid": valid,
                                          "status": status, "path": self.path})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/xero/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def batches(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["status"] == 200]

    @property
    def events(self) -> list[dict]:
        return [event for batch in self.batches for event in batch["events"]]


@pytest.fixture
def receiver(xero_sandbox):
    receiver = Receiver()
    receiver.thread.start()
    xero_sandbox.configure(webhook_url=receiver.url, webhook_key=KEY, webhook_retry_seconds=60)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def summary(events: list[dict]) -> list[tuple]:
    return [(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events]


def test_created_records_are_delivered_as_one_signed_batch(raw, receiver):
    invoice = create_invoice(raw)

    [delivery] = raw.server.flush_webhooks()

    [request] = receiver.requests
    batch = json.loads(request["body"])
    contact_id = invoice["Contact"]["ContactID"]
    assert request["valid"] and request["headers"]["Content-Type"].startswith("application/json")
    assert request["path"] == "/xero/webhooks"
    assert summary(batch["events"]) == [("CONTACT", "CREATE", contact_id), ("INVOICE", "CREATE", invoice["InvoiceID"])]
    assert (batch["firstEventSequence"], batch["lastEventSequence"]) == (1, 2)
    assert re.fullmatch(r"[A-Z]{20}", batch["entropy"])
    event = batch["events"][1]
    assert event["resourceUrl"] == f"https://api.xero.com/api.xro/2.0/Invoices/{invoice['InvoiceID']}"
    assert (event["tenantId"], event["tenantType"]) == (ORG1_TENANT_ID, "ORGANISATION")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", event["eventDateUtc"])
    assert (delivery["status"], delivery["received_status"], len(delivery["attempts"])) == ("delivered", 200, 1)
    assert delivery["body"].encode() == request["body"]
    assert delivery["signature"] == request["headers"]["x-xero-signature"]


def test_updates_from_the_api_and_from_xero_are_events_too(raw, receiver):
    server = raw.server
    invoice = create_invoice(raw)
    contact_id = invoice["Contact"]["ContactID"]
    server.flush_webhooks()

    payment = pay(raw, invoice["InvoiceID"], 110).json()["Payments"][0]
    raw.post(f"Contacts/{contact_id}", {"Contacts": [{"EmailAddress": "a@acme.test"}]})
    server.delete_payment(payment["PaymentID"])
    server.void_invoice(invoice["InvoiceID"])
    server.flush_webhooks()

    later = receiver.events[2:]
    assert summary(later) == [
        ("INVOICE", "UPDATE", invoice["InvoiceID"]),  # paid
        ("CONTACT", "UPDATE", contact_id),
        ("INVOICE", "UPDATE", invoice["InvoiceID"]),  # payment deleted in Xero
        ("INVOICE", "UPDATE", invoice["InvoiceID"]),  # voided in Xero
    ]
    sequences = [(b["firstEventSequence"], b["lastEventSequence"]) for b in receiver.batches]
    assert sequences[0] == (1, 2) and sequences[-1][1] == 6
    assert server.violations() == []


def test_one_event_per_record_and_call(raw, receiver):
    response = raw.put("Invoices", {"Invoices": [
        {"Type": "ACCREC", "Contact": {"Name": "Acme"}, "Status": "DRAFT", "LineItems": []} for _ in range(3)
    ]})
    assert response.status_code == 200

    events = raw.server.webhook_events()

    assert [(e["eventCategory"], e["eventType"]) for e in events] == [("CONTACT", "CREATE")] + [
        ("INVOICE", "CREATE")] * 3


def test_only_connected_apps_with_a_webhook_hear_of_changes(xero_sandbox, receiver):
    def create_contact(token, name):
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": ORG2_TENANT_ID}
        response = requests.put(f"{xero_sandbox.url}/api.xro/2.0/Contacts", json={"Contacts": [{"Name": name}]},
                                headers=headers, timeout=5)
        return response.json()["Contacts"][0]

    created = create_contact(xero_sandbox.connect(tenant_ids=[ORG2_TENANT_ID]), "Kiwi")
    assert [e["tenantId"] for e in xero_sandbox.webhook_events()] == [ORG2_TENANT_ID]

    xero_sandbox.revoke_connection(tenant_id=ORG2_TENANT_ID)
    xero_sandbox.archive_contact(created["ContactID"], tenant_id=ORG2_TENANT_ID)
    xero_sandbox.configure(webhook_url="")
    create_contact(xero_sandbox.connect(tenant_ids=[ORG2_TENANT_ID]), "Kea")

    assert len(xero_sandbox.flush_webhooks()) == 1
    assert len(receiver.requests) == 1


def test_a_refused_batch_is_sent_again_with_the_same_bytes(raw, receiver):
    receiver.statuses.extend([500, 503])
    create_invoice(raw)

    flushes = [raw.server.flush_webhooks()]  # each flush is one more attempt (the first may come sooner)
    while flushes[-1][0]["status"] == "pending" and len(flushes) < 4:
        flushes.append(raw.server.flush_webhooks())

    [delivery] = flushes[-1]
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["status"] == "delivered"
    assert len({r["body"] for r in receiver.requests}) == 1
    assert len({r["headers"]["x-xero-signature"] for r in receiver.requests}) == 1


def test_retries_happen_in_the_background_and_give_up_in_the_end(raw, receiver):
    server = raw.server
    server.configure(webhook_retry_seconds=0.01, webhook_max_attempts=3)
    receiver.statuses.extend([500, 500, 500])
    create_invoice(raw)

    server.wait_for(lambda: server.webhooks()["deliveries"][0]["status"] == "failed" if server.webhooks()[
        "deliveries"] else False)
    raw.put("Contacts", {"Contacts": [{"Name": "Later"}]})
    server.wait_for(lambda: len(receiver.batches) == 1)

    [failed, delivered] = server.webhooks()["deliveries"]
    assert [a["status"] for a in failed["attempts"]] == [500, 500, 500]
    assert (delivered["firstEventSequence"], delivered["status"]) == (3, "delivered")
    assert summary(receiver.events)[0][:2] == ("CONTACT", "CREATE")


def test_unreachable_receivers_are_recorded_as_errors(raw, receiver):
    receiver.server.shutdown()
    receiver.server.server_close()
    create_invoice(raw)

    [delivery] = raw.server.flush_webhooks()

    assert delivery["status"] == "pending" and delivery["received_status"] is None
    assert "Connection" in delivery["attempts"][0]["error"]


def test_intent_to_receive_checks_the_receiver_verifies_signatures(xero_sandbox, receiver):
    good = xero_sandbox.check_webhook_intent()
    receiver.statuses.extend([200, 200])
    careless = xero_sandbox.check_webhook_intent()

    assert good["ok"] and good["problems"] == []
    assert (good["correctly_signed"]["status"], good["incorrectly_signed"]["status"]) == (200, 401)
    bodies = [json.loads(r["body"]) for r in receiver.requests[:2]]
    assert [b["events"] for b in bodies] == [[], []] and [r["valid"] for r in receiver.requests[:2]] == [True, False]
    assert not careless["ok"]
    assert careless["problems"] == ["incorrectly signed payload: expected 401, got 200"]
    assert len(xero_sandbox.webhooks()["intent_checks"]) == 2


def test_reset_forgets_webhooks_and_their_settings(raw, receiver):
    server = raw.server
    receiver.statuses.append(500)
    create_invoice(raw)
    server.flush_webhooks()

    server.reset()

    assert server.webhooks() == {"apps": [], "deliveries": [], "intent_checks": []}
    assert server.get_config()["clients"][0]["webhook_url"] is None


def test_webhook_settings_come_from_config_environment_and_command_line(xero_sandbox):
    generated = xero_sandbox.configure(webhook_url="http://127.0.0.1:9/hooks")["clients"][0]
    from_env = config_from_env({"XERO_SANDBOX_WEBHOOK_URL": "http://a.test/h", "XERO_SANDBOX_WEBHOOK_KEY": "k1"})
    from_cli = build_config(parse_args(["--webhook-url", "http://b.test/h"]), {"XERO_SANDBOX_WEBHOOK_KEY": "k2"})

    assert generated["webhook_url"] == "http://127.0.0.1:9/hooks" and len(generated["webhook_key"]) == 88
    assert (from_env.clients[0].webhook_url, from_env.clients[0].webhook_key) == ("http://a.test/h", "k1")
    assert (from_cli.clients[0].webhook_url, from_cli.clients[0].webhook_key) == ("http://b.test/h", "k2")
    bad = requests.post(xero_sandbox.url + "/_sandbox/config", json={"webhook_url": 5}, timeout=5)
    assert bad.status_code == 400


def test_batches_are_checked_against_xeros_webhook_schemas():
    from xero_sandbox.conformance import check_webhook

    event = {"resourceUrl": "https://api.xero.com/api.xro/2.0/CreditNotes/55d84274-a3da-4829-a7c0-0cab601b95cc",
             "resourceId": "55d84274-a3da-4829-a7c0-0cab601b95cc", "eventDateUtc": "2025-12-02T00:44:09.923",
             "eventType": "CREATE", "eventCategory": "CREDITNOTE", "tenantId": ORG1_TENANT_ID,
             "tenantType": "ORGANISATION", "data": {"Type": "ACCRECCREDIT", "Status": "DRAFT"}}
    batch = {"events": [event], "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "ABC"}

    assert check_webhook(batch) == []
    broken = dict(batch, firstEventSequence=0, events=[dict(event, eventType="DELETE", data={"Type": "ACCRECCREDIT"})])
    errors = [v["error"] for v in check_webhook(broken)]
    assert "0 is less than the minimum of 1" in errors and "'Status' is a required property" in errors


def test_credit_notes_have_events_with_their_type_and_status(raw, receiver):
    from .test_money_back import create_credit_note

    invoice = create_invoice(raw)
    note = create_credit_note(raw, Contact={"ContactID": invoice["Contact"]["ContactID"]})
    raw.server.flush_webhooks()
    raw.put(f"CreditNotes/{note['CreditNoteID']}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 55, "Date": "2024-05-20"}]})

    events = raw.server.webhook_events()

    created = [e for e in events if e["eventCategory"] == "CREDITNOTE"]
    assert [(e["eventType"], e["data"]) for e in created] == [
        ("CREATE", {"Type": "ACCRECCREDIT", "Status": "AUTHORISED"}),
        ("UPDATE", {"Type": "ACCRECCREDIT", "Status": "PAID"}),
    ]
    assert created[0]["resourceUrl"].endswith(f"/CreditNotes/{note['CreditNoteID']}")
    assert summary(events[-2:]) == [("CREDITNOTE", "UPDATE", note["CreditNoteID"]),
                                    ("INVOICE", "UPDATE", invoice["InvoiceID"])]
