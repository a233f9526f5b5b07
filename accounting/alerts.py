"""Emails to people about a whitelabel's books in Xero: the connection needs a reconnect, a record failed for
good, records are held by a lock date or the plan, the daily limit paused the sync, the reconcile or a webhook
found changes in Xero; and, to support, Arena's Xero app nearing its connection limit.

`alert_raise` keeps what happened (an `Alert`) in the caller's transaction and, after commit, asks the worker
to mail it (`alerts_mail`). At most one email of a kind goes to a whitelabel a day: what is raised meanwhile
waits, and the next email (the hourly task sends it once the day is up) tells everything since the last one.
Emails go to the whitelabel's admins (except those who turned alerts off on their alerts page) and to
`XERO_ALERTS_SUPPORT_EMAIL` if set, through Django's mail (`EMAIL_URL`); with no `EMAIL_URL` nothing is mailed.
"""

import datetime
import logging
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Min
from django.urls import reverse
from django.utils import timezone

from payments.models import Membership, Whitelabel

from .models import Alert

logger = logging.getLogger(__name__)
Kind = Alert.Kind
MAIL_TASK = "accounting.tasks.mail_alerts"
ONE_DAY = datetime.timedelta(days=1)
LISTED = 50  # lines in one email; the rest are counted


def alert_raise(*, whitelabel_id: int | None, kind: str, text: str) -> Alert:
    """Keep what happened for the next email of its kind; the email goes after commit (at most daily)."""
    alert = Alert.objects.create(whitelabel_id=whitelabel_id, kind=kind, text=text[:4000])
    transaction.on_commit(lambda: _enqueue(whitelabel_id, kind))
    return alert


def _enqueue(whitelabel_id: int | None, kind: str) -> None:
    try:
        current_app.send_task(MAIL_TASK, (whitelabel_id, kind))
    except Exception as exc:  # noqa: BLE001 - the hourly task mails it instead
        logger.warning("Could not queue an alert email (%s); the hourly task will send it", type(exc).__name__)


def _last_mailed(whitelabel_id: int | None, kind: str):
    return (
        Alert.objects.filter(whitelabel_id=whitelabel_id, kind=kind, mailed_at__isnull=False)
        .order_by("-mailed_at")
        .values_list("mailed_at", flat=True)
        .first()
    )


def alerts_mail(*, whitelabel_id: int | None, kind: str) -> bool:
    """Mail what of this kind waits, unless an email of this kind went to the whitelabel in the last day
    (then it waits for the next one). True if an email went."""
    if not settings.EMAIL_URL:
        return False
    with transaction.atomic():
        if whitelabel_id is not None:  # one sender at a time per whitelabel
            Whitelabel.objects.select_for_update().filter(pk=whitelabel_id).first()
        last = _last_mailed(whitelabel_id, kind)
        if last is not None and last > timezone.now() - ONE_DAY:
            return False
        waiting = list(
            Alert.objects.filter(whitelabel_id=whitelabel_id, kind=kind, mailed_at__isnull=True).order_by("id")
        )
        if not waiting:
            return False
        recipients = alert_recipients(whitelabel_id=whitelabel_id, kind=kind)
        if not recipients:
            Alert.objects.filter(pk__in=[a.pk for a in waiting]).update(mailed_at=timezone.now())
            return False
        subject, body = _email(whitelabel_id, kind, waiting, since=last)
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception as exc:  # noqa: BLE001 - any mail failure: the hourly task tries again
            logger.warning("Could not send the %s alert email for whitelabel %s: %s", kind, whitelabel_id, exc)
            return False
        Alert.objects.filter(pk__in=[a.pk for a in waiting]).update(mailed_at=timezone.now())
    logger.info("Sent the %s alert email for whitelabel %s to %s recipient(s)", kind, whitelabel_id, len(recipients))
    return True


def alerts_mail_due() -> int:
    """Hourly (Celery beat): mail every kind that waits and whose day since its last email is up."""
    sent = 0
    waiting = Alert.objects.filter(mailed_at__isnull=True).values("whitelabel_id", "kind").annotate(first=Min("id"))
    for row in waiting:
        sent += alerts_mail(whitelabel_id=row["whitelabel_id"], kind=row["kind"])
    return sent


def alert_recipients(*, whitelabel_id: int | None, kind: str) -> list[str]:
    """The whitelabel's admins who want alerts, and support if `XERO_ALERTS_SUPPORT_EMAIL` is set."""
    emails: list[str] = []
    if whitelabel_id is not None and kind != Kind.APP_CONNECTIONS:
        admins = Membership.objects.filter(
            whitelabel_id=whitelabel_id, role=Membership.Role.ADMIN, user__is_active=True, user__alert_opt_out=None
        ).exclude(user__email="")
        emails += list(admins.values_list("user__email", flat=True))
    emails += [e for e in settings.XERO_ALERTS_SUPPORT_EMAIL if e not in emails]
    return emails


def _email(whitelabel_id: int | None, kind: str, alerts: list[Alert], *, since) -> tuple[str, str]:
    whitelabel = Whitelabel.objects.filter(pk=whitelabel_id).first() if whitelabel_id else None
    who = whitelabel.name if whitelabel else "Arena"
    subject = f"[Arena] {who}: {Kind(kind).label}"
    if len(alerts) > 1:
        subject += f" ({len(alerts)})"
    lines = [f"{Kind(kind).label} for {who}."]
    if since is not None:
        lines.append(f"Since the last email ({since:%d %b %Y %H:%M} UTC):")
    lines.append("")
    lines += [f"- {a.created_at:%d %b %H:%M} UTC: {a.text}" for a in alerts[:LISTED]]
    if len(alerts) > LISTED:
        lines.append(f"- ... and {len(alerts) - LISTED} more.")
    lines += ["", f"See it here: {_link(whitelabel, kind)}", ""]
    lines.append(
        "Arena sends at most one email of this kind a day, telling everything since the last one. To stop "
        f"these emails, turn them off at {_base_url()}{reverse('accounting:alerts')}."
    )
    return subject, "\n".join(lines)


def _base_url() -> str:
    """Arena's address as people reach it: the one Xero sends them back to (XERO_REDIRECT_URI)."""
    parts = urlsplit(settings.XERO_REDIRECT_URI)
    return f"{parts.scheme}://{parts.netloc}"


def _link(whitelabel: Whitelabel | None, kind: str) -> str:
    base = _base_url()
    if whitelabel is None:
        return f"{base}{reverse('admin:index')}"
    return f"{base}{reverse('accounting:settings', kwargs={'whitelabel': whitelabel.slug})}"
