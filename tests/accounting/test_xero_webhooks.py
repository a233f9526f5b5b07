"""Xero's webhooks: the endpoint verifies each delivery's signature, stores what Xero signed (and only that:
anything else is answered 401 or 400 and counted) and answers at once; a task
processes the stored delivery (each event once), reads what changed from Xero and flags the records a person
changed. The endpoint is driven with Django's test client; the last test runs the whole loop: the sandbox
signs and POSTs to a live server, and the real worker processes what was stored."""

import datetime
import uuid
from decimal import Decimal

import pytest
import requests
from celery.exceptions import Retry
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounting import webhooks
from accounting.models import SyncRecord, XeroWebhookDelivery, XeroWebhookEvent, XeroWebhookRefusal
from accounting.tasks import process_xero_webhook, sweep_outbox
from accounting.xero import limits
from payments.services import LineInput, issue_invoice
from tests.accounting.drift import WEBHOOK_KEY, WEBHOOK_PATH, bill, delivery, drain, event, post_delivery, sign
from tests.books import connected, outbox_settled, xero_calls
from tests.xero import wait_until

Kind, Finding = SyncRecord.Kind, XeroWebhookEvent.Finding


@pytest.fixture
def webhook_key(settings):
    settings.XERO_WEBHOOK_KEY = WEBHOOK_KEY
    return WEBHOOK_KEY


@pytest.fixture
def books(xero, webhook_key):
    whitelabel = connected(xero)
    billed = bill(whitelabel)
    drain(whitelabel)
    return whitelabel, billed


def invoice_record(invoice) -> SyncRecord:
    return SyncRecord.objects.get(kind=Kind.INVOICE, object_id=invoice.pk)


def tenant(whitelabel) -> str:
    return whitelabel.xero_connection.tenant_id


@pytest.mark.django_db
def test_intent_to_receive_gets_200_when_signed_with_the_key_and_401_otherwise(client, webhook_key):
    intent = delivery(first=0)

    assert post_delivery(client, intent).status_code == 200
    refused = post_delivery(client, intent, signature=sign(intent, "another key"))
    assert refused.status_code == 401 and refused.content == b""
    assert post_delivery(client, intent, signature="").status_code == 401
    (stored,) = XeroWebhookDelivery.objects.all()
    assert stored.verified and stored.processed_at is not None and stored.event_count == 0
    (refusals,) = XeroWebhookRefusal.objects.all()
    assert refusals.count == 2 and refusals.last_reason == "The delivery has no x-xero-signature header."


@pytest.mark.django_db
def test_without_a_webhook_key_every_delivery_is_answered_503_and_not_stored(client, settings):
    settings.XERO_WEBHOOK_KEY = ""
    body = delivery()
    assert post_delivery(client, body, signature=sign(body, "")).status_code == 503
    assert not XeroWebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_only_post_and_no_csrf_token_needed(client, webhook_key):
    assert client.get(WEBHOOK_PATH).status_code == 405
    csrf_client = type(client)(enforce_csrf_checks=True)
    assert post_delivery(csrf_client, delivery()).status_code == 200


@pytest.mark.django_db
def test_a_bad_signature_is_refused_with_401_and_changes_nothing(books, xero, client):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)
    body = delivery(event(tenant(whitelabel), invoice_record(billed["open"]).xero_id))
    xero.clear_requests_log()

    response = post_delivery(client, body, signature=sign(body, "not the key"))

    assert response.status_code == 401
    assert not XeroWebhookDelivery.objects.exists(), "what the key did not sign is never stored"
    (refusals,) = XeroWebhookRefusal.objects.all()
    assert (refusals.count, refusals.last_reason) == (1, "The signature does not match XERO_WEBHOOK_KEY.")
    assert not XeroWebhookEvent.objects.exists()
    assert not SyncRecord.objects.filter(changed_in_xero_at__isnull=False).exists()
    assert xero_calls(xero) == [], "nothing was read from Xero"


@pytest.mark.django_db
def test_a_thousand_unsigned_megabyte_bodies_leave_the_table_unchanged(client, webhook_key):
    body = b"{" + b"x" * (webhooks.MAX_BODY_BYTES - 2) + b"}"
    answers = {
        post_delivery(client, body, signature=sign(body, f"guess {n}") if n % 2 else "").status_code
        for n in range(1000)
    }
    assert answers == {401}
    assert not XeroWebhookDelivery.objects.exists()
    assert list(XeroWebhookRefusal.objects.values_list("count", flat=True)) == [1000], "counted on today's row"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, signed, status",
    [
        (b'{"events": []}\x00', False, 401),
        (b'{"events": [], "entropy": "\x00"}', True, 400),
        (b'{"events": [{"resourceId": "\\u0000"}]}', True, 400),
        (b'{"events": [{"tenantId": "\\ud800"}]}', True, 400),
        (b"\xff\xfe not UTF-8", True, 400),
        (b"\xff\xfe not UTF-8", False, 401),
        (b'{"events": "not a list"}', True, 400),
        (b"[" * 100_000 + b"]" * 100_000, True, 400),
        (b"[1, 2, 3]", True, 400),
        (b"", True, 400),
    ],
    ids=[
        *("unsigned NUL", "signed NUL", "escaped NUL", "lone surrogate", "signed bytes", "unsigned bytes"),
        *("events", "deep", "list", "empty"),
    ],
)
def test_any_bytes_are_answered_401_or_400_never_stored(client, webhook_key, body, signed, status):
    response = post_delivery(client, body, signature=sign(body) if signed else sign(body, "not the key"))
    assert response.status_code == status
    assert not XeroWebhookDelivery.objects.exists()
    assert XeroWebhookRefusal.objects.get().count == 1


@pytest.mark.django_db
def test_a_body_over_a_megabyte_is_refused_before_it_is_read(client, webhook_key):
    body = b" " * (webhooks.MAX_BODY_BYTES + 1)
    assert post_delivery(client, body).status_code == 413
    assert not XeroWebhookDelivery.objects.exists()
    assert "over 1,000,000 bytes" in XeroWebhookRefusal.objects.get().last_reason


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2000), signed=st.booleans())
@pytest.mark.django_db
def test_no_byte_sequence_gives_a_server_error(client, webhook_key, body, signed):
    response = post_delivery(client, body, signature=sign(body) if signed else sign(body, "not the key"))
    assert response.status_code in ((200, 400) if signed else (401,))
    assert XeroWebhookDelivery.objects.filter(verified=False).count() == 0


@pytest.mark.django_db
def test_an_invoice_voided_in_xero_is_flagged_from_its_event(books, xero, client):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)
    record = invoice_record(billed["open"])

    assert post_delivery(client, delivery(event(tenant(whitelabel), record.xero_id))).status_code == 200
    (stored,) = XeroWebhookDelivery.objects.all()
    assert stored.verified and stored.processed_at is None and stored.event_count == 1
    process_xero_webhook.run(stored.pk)

    (processed,) = XeroWebhookEvent.objects.all()
    assert (processed.finding, processed.record_id, processed.whitelabel_id) == (
        Finding.CHANGED,
        record.pk,
        whitelabel.pk,
    )
    assert "Voided in Xero" in processed.note
    record.refresh_from_db()
    assert record.changed_in_xero_at is not None and "Voided in Xero" in record.xero_change
    assert XeroWebhookDelivery.objects.get().processed_at is not None


@pytest.mark.django_db
def test_a_payment_deleted_in_xero_flags_the_invoice_and_the_payment(books, xero, client):
    whitelabel, billed = books
    allocation = billed["paid"].allocations.order_by("id").first()
    payment_record = SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=allocation.pk)
    xero.delete_payment(payment_record.xero_id)

    post_delivery(client, delivery(event(tenant(whitelabel), invoice_record(billed["paid"]).xero_id)))
    process_xero_webhook.run(XeroWebhookDelivery.objects.get().pk)

    flagged = {r.kind: r for r in SyncRecord.objects.filter(changed_in_xero_at__isnull=False)}
    assert set(flagged) == {Kind.INVOICE, Kind.PAYMENT}
    assert "deleted in Xero" in flagged[Kind.PAYMENT].xero_change
    assert "Amount due is 50.00 in Xero" in flagged[Kind.INVOICE].xero_change


@pytest.mark.django_db
def test_events_wait_without_a_call_while_records_are_on_their_way_to_xero(books, xero, client):
    """On bill-run day Xero tells of every invoice Arena creates and pays: reading them (and the payments
    entered in Xero) in the organisation's share of calls would slow what billing sends (issue 24). The events
    wait, pending, and are read once the records are in Xero."""
    whitelabel, billed = books
    allocation = billed["paid"].allocations.order_by("id").first()
    payment_record = SyncRecord.objects.get(kind=Kind.PAYMENT, object_id=allocation.pk)
    xero.delete_payment(payment_record.xero_id)
    later = issue_invoice(billed["customer"], [LineInput("Next month", Decimal("1"), Decimal("10.00"), Decimal("10"))])
    assert SyncRecord.objects.filter(whitelabel=whitelabel, status=SyncRecord.Status.PENDING).exists()
    xero.clear_requests_log()

    post_delivery(client, delivery(event(tenant(whitelabel), invoice_record(billed["paid"]).xero_id)))
    stored = XeroWebhookDelivery.objects.get()
    with pytest.raises(webhooks.WaitingForRecords):
        webhooks.delivery_process(stored.pk)
    process_xero_webhook.run(stored.pk)  # queues itself again (a bill-run may outlast any count of retries)

    assert xero_calls(xero) == [], "nothing read while the records wait to go"
    assert XeroWebhookEvent.objects.get().finding == Finding.PENDING
    stored.refresh_from_db()
    assert stored.processed_at is None and stored.retry_at > timezone.now()
    assert stored.error == (
        "Records are on their way to Xero for 1 organisation(s): their events are read once those are in."
    )

    drain(whitelabel)
    assert invoice_record(later).status == SyncRecord.Status.SENT
    assert webhooks.delivery_process(stored.pk).findings == {Finding.CHANGED: 1}
    flagged = {r.kind for r in SyncRecord.objects.filter(changed_in_xero_at__isnull=False)}
    assert flagged == {Kind.INVOICE, Kind.PAYMENT}
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == "" and stored.retry_at is None


@pytest.mark.django_db
def test_a_replayed_delivery_changes_nothing_twice(books, xero, client):
    whitelabel, billed = books
    xero.void_invoice(billed["open"].number)
    record = invoice_record(billed["open"])
    body = delivery(event(tenant(whitelabel), record.xero_id))
    post_delivery(client, body)
    process_xero_webhook.run(XeroWebhookDelivery.objects.get().pk)
    flagged_at = SyncRecord.objects.get(pk=record.pk).changed_in_xero_at
    xero.clear_requests_log()

    assert post_delivery(client, body).status_code == 200, "Xero delivers at least once: a repeat is welcome"
    again = XeroWebhookDelivery.objects.order_by("-id").first()
    result = webhooks.delivery_process(again.pk)

    assert result.new_events == 0
    assert XeroWebhookEvent.objects.count() == 1 and XeroWebhookEvent.objects.get().delivery_id != again.pk
    assert SyncRecord.objects.get(pk=record.pk).changed_in_xero_at == flagged_at
    assert xero_calls(xero) == [], "the repeated event was not read again"
    assert webhooks.delivery_process(again.pk) is None, "a processed delivery is not processed twice"


@pytest.mark.django_db
def test_a_delivery_for_an_unknown_organisation_is_stored_and_ignored(books, xero, client):
    unknown = str(uuid.uuid4())
    xero.clear_requests_log()
    post_delivery(client, delivery(event(unknown, str(uuid.uuid4())), event(unknown, str(uuid.uuid4()), at="x")))
    process_xero_webhook.run(XeroWebhookDelivery.objects.get().pk)

    events = list(XeroWebhookEvent.objects.all())
    assert [e.finding for e in events] == [Finding.IGNORED, Finding.IGNORED]
    assert all(e.whitelabel_id is None and "No whitelabel is connected" in e.note for e in events)
    assert not SyncRecord.objects.filter(changed_in_xero_at__isnull=False).exists()
    assert xero_calls(xero) == []


@pytest.mark.django_db
def test_events_arena_caused_itself_change_nothing(books, xero, client):
    """Arena's own writes raise events too: a created invoice, a paid one, a contact; a credit note is not Arena's."""
    whitelabel, billed = books
    contact = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=billed["customer"].pk)
    events = [
        event(tenant(whitelabel), invoice_record(billed["paid"]).xero_id, event_type="CREATE"),
        event(tenant(whitelabel), invoice_record(billed["paid"]).xero_id),
        event(tenant(whitelabel), invoice_record(billed["from_credit"]).xero_id),
        event(tenant(whitelabel), contact.xero_id, category="CONTACT"),
        event(tenant(whitelabel), str(uuid.uuid4())),  # an invoice a person made in Xero
        event(tenant(whitelabel), str(uuid.uuid4()), category="CREDITNOTE"),
    ]
    post_delivery(client, delivery(*events))
    process_xero_webhook.run(XeroWebhookDelivery.objects.get().pk)

    findings = list(XeroWebhookEvent.objects.order_by("id").values_list("finding", flat=True))
    assert findings == [
        Finding.IGNORED,
        Finding.AGREES,
        Finding.AGREES,
        Finding.AGREES,
        Finding.IGNORED,
        Finding.IGNORED,
    ]
    assert not SyncRecord.objects.filter(changed_in_xero_at__isnull=False).exists()
    assert len(xero_calls(xero, method="GET", path_end="/Invoices")) >= 1


@pytest.mark.django_db
def test_a_contact_archived_in_xero_is_flagged(books, xero, client):
    whitelabel, billed = books
    contact = SyncRecord.objects.get(kind=Kind.CONTACT, object_id=billed["customer"].pk)
    xero.archive_contact(contact.xero_id)

    post_delivery(client, delivery(event(tenant(whitelabel), contact.xero_id, category="CONTACT")))
    process_xero_webhook.run(XeroWebhookDelivery.objects.get().pk)

    contact.refresh_from_db()
    assert contact.changed_in_xero_at is not None and "Archived in Xero" in contact.xero_change


@pytest.mark.django_db
def test_xero_limits_hold_processing_back_to_retry_later(books, xero, client):
    whitelabel, billed = books
    post_delivery(client, delivery(event(tenant(whitelabel), invoice_record(billed["open"]).xero_id)))
    stored = XeroWebhookDelivery.objects.get()
    xero.add_fault(path="/api.xro/2.0/Invoices", method="GET", status=429, retry_after=30, count=1)

    with pytest.raises(webhooks.TryLater):
        webhooks.delivery_process(stored.pk)

    assert XeroWebhookEvent.objects.get().finding == Finding.PENDING, "processed when it is tried again"
    with pytest.raises(Retry):
        process_xero_webhook.run(stored.pk)  # the task retries after Xero's Retry-After
    stored.refresh_from_db()
    assert stored.retry_at > timezone.now() and "Xero's limit" in stored.error and stored.processed_at is None
    limits.backend().reset()  # Xero's 30 seconds have passed
    assert webhooks.delivery_process(stored.pk).findings == {Finding.AGREES: 1}


@pytest.mark.django_db
def test_the_sweeper_queues_deliveries_left_unprocessed(client, webhook_key):
    post_delivery(client, delivery(event(str(uuid.uuid4()), str(uuid.uuid4()))))
    post_delivery(client, delivery(event(str(uuid.uuid4()), str(uuid.uuid4()))), signature="wrong")
    (fresh,) = XeroWebhookDelivery.objects.all()
    assert webhooks.deliveries_requeue_stale() == [], "too soon: its own task is on the way"

    later = timezone.now() + datetime.timedelta(minutes=6)
    assert webhooks.deliveries_requeue_stale(now=later) == [fresh.pk]
    sweep_outbox()
    webhooks.delivery_process(fresh.pk)
    assert webhooks.deliveries_requeue_stale(now=later) == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_void_on_the_sandbox_page_is_flagged_through_a_signed_webhook(xero, sync_worker, live_server, settings):
    settings.XERO_WEBHOOK_KEY = WEBHOOK_KEY
    xero.configure(webhook_url=live_server.url + WEBHOOK_PATH, webhook_key=WEBHOOK_KEY)
    intent = xero.check_webhook_intent()
    assert intent["ok"], intent["problems"]
    whitelabel = connected(xero)
    billed = bill(whitelabel)
    outbox_settled(whitelabel)
    xero.flush_webhooks()  # Arena's own writes: processed, nothing flagged

    page = requests.post(
        f"{xero.url}/edits",
        data={"tenant_id": tenant(whitelabel), "action": "void_invoice", "invoice": billed["open"].number},
        timeout=10,
    )
    assert page.status_code == 200 and "VOIDED" in page.text
    deliveries = xero.flush_webhooks()

    assert deliveries and all(d["status"] == "delivered" for d in deliveries)
    record = wait_until(
        lambda: SyncRecord.objects.filter(changed_in_xero_at__isnull=False).first(),
        message="the worker to flag the voided invoice",
    )
    assert (record.kind, record.object_id) == (Kind.INVOICE, billed["open"].pk)
    assert "Voided in Xero" in record.xero_change
    wait_until(
        lambda: not XeroWebhookDelivery.objects.filter(verified=True, processed_at__isnull=True).exists(),
        message="every delivery to be processed",
    )
    assert SyncRecord.objects.filter(changed_in_xero_at__isnull=False).count() == 1
    assert not XeroWebhookEvent.objects.filter(finding=Finding.FAILED).exists()
