"""Send a whitelabel's skipped or failed records to Xero again (e.g. after connecting it).

Invoke like so:
    python manage.py resync_xero demo              # skipped and failed records of whitelabel 'demo'
    python manage.py resync_xero demo --failed     # only failed ones
    python manage.py resync_xero --all --failed    # failed records of every connected whitelabel
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounting.models import SyncRecord
from accounting.sync import outbox
from payments.models import Whitelabel


class Command(BaseCommand):
    help = "Re-queue skipped and/or failed Xero sync records of a whitelabel."

    def add_arguments(self, parser):
        parser.add_argument("whitelabel", nargs="?", help="The whitelabel's slug.")
        parser.add_argument("--all", action="store_true", help="Every whitelabel.")
        parser.add_argument("--failed", action="store_true", help="Only failed records.")
        parser.add_argument("--skipped", action="store_true", help="Only skipped records.")

    def handle(self, *args, whitelabel=None, all=False, failed=False, skipped=False, **options):
        if bool(whitelabel) == bool(all):
            raise CommandError("Name one whitelabel's slug, or pass --all.")
        whitelabels = Whitelabel.objects.all() if all else Whitelabel.objects.filter(slug=whitelabel)
        if not whitelabels:
            raise CommandError(f"No whitelabel with slug '{whitelabel}'.")
        statuses = tuple(
            s for s, wanted in ((SyncRecord.Status.FAILED, failed), (SyncRecord.Status.SKIPPED, skipped)) if wanted
        ) or (SyncRecord.Status.FAILED, SyncRecord.Status.SKIPPED)
        for item in whitelabels:
            reason = outbox.skip_reason(item.pk)
            if reason:
                self.stdout.write(self.style.WARNING(f"{item.slug}: not re-queued. {reason}"))
                continue
            with transaction.atomic():
                count = outbox.records_resync(whitelabel=item, statuses=statuses)
            self.stdout.write(self.style.SUCCESS(f"{item.slug}: {count} record(s) queued for Xero."))
