"""Send whitelabels' records to Xero again: what failed, what was skipped (billed before connecting), or a
re-check of what was sent (looked up in Xero; only what Xero lacks is sent again). A second run creates
nothing new in Xero.

Invoke like so:
    python manage.py resync_xero                              # failed and skipped records of every connected whitelabel
    python manage.py resync_xero --whitelabel demo --dry-run  # what it would do for 'demo'; changes nothing
    python manage.py resync_xero --whitelabel demo --status skipped --wait           # backfill 'demo', and wait
    python manage.py resync_xero --whitelabel demo --status failed --kind invoices --since 2026-05-01
    python manage.py resync_xero --whitelabel demo --status sent --kind payments --wait  # re-check in Xero
    python manage.py resync_xero --whitelabel demo --import-since 2026-05-01  # read payments entered in Xero again

--import-since reads the payments entered in Xero from DATE (the whitelabel's own midnight) on, now, in this
process, and records those Arena lacks (what it has is not recorded twice); it sends nothing. It moves the
whitelabel's read cursor back to DATE, so the next scheduled read continues from there.

Without --wait it only queues the records (the worker sends them; exit 0 when everything asked for is queued).
With --wait it sends them itself, in this process (one sync run at a time per organisation: if the worker is
running one, it waits for it), until every record asked for is in Xero, failed for good, or --timeout passes.
Exit codes: 0 everything asked for is in Xero (or queued, without --wait); 1 something failed, is still on
its way, or a whitelabel can't be synced (needs reconnecting, no accounting system); 2 bad arguments (an
unknown whitelabel, kind or status, a bad date, --since after --until or after today, a --timeout that is
not a number of seconds up to a week, --timeout without --wait, --dry-run with --wait).
"""

import datetime
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounting import imports, selectors, services
from accounting.errors import BadArguments
from accounting.management.options import date_option, seconds_option, since_option, until_option, whitelabels_named
from accounting.models import SyncRecord
from accounting.sync import engine, outbox, runner
from accounting.xero.errors import XeroError
from payments.models import Whitelabel

Status = SyncRecord.Status
STATUSES = {"failed": Status.FAILED, "skipped": Status.SKIPPED, "sent": Status.SENT}
DEFAULT_STATUSES = ["failed", "skipped"]
IMPORT_PAGES = 10_000  # --import-since reads everything asked for, not one scheduled read's share
LISTED = 20  # records listed per whitelabel by --dry-run, unless -v 2


class Command(BaseCommand):
    help = (
        "Send whitelabels' failed or skipped Xero sync records again, or re-check sent ones against Xero. "
        "Exit 0: all in Xero (or queued, without --wait); 1: something failed or can't be synced; 2: bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--whitelabel",
            action="append",
            metavar="SLUG",
            help="A whitelabel's slug (repeatable). Default: every whitelabel connected to Xero.",
        )
        parser.add_argument("--since", metavar="DATE", help="Only records billed on or after DATE (YYYY-MM-DD).")
        parser.add_argument("--until", metavar="DATE", help="Only records billed on or before DATE (YYYY-MM-DD).")
        parser.add_argument(
            "--kind", action="append", choices=list(selectors.RESYNC_KINDS), help="Only these kinds (repeatable)."
        )
        parser.add_argument(
            "--status",
            action="append",
            choices=list(STATUSES),
            help="Records in this status (repeatable; default failed and skipped). 'sent' looks them up in Xero "
            "and sends only what Xero lacks.",
        )
        parser.add_argument(
            "--import-since",
            metavar="DATE",
            help="Read the payments entered in Xero from DATE (YYYY-MM-DD) on again and record what Arena lacks; "
            "sends nothing.",
        )
        parser.add_argument("--dry-run", action="store_true", help="List what would be done; change nothing.")
        parser.add_argument("--wait", action="store_true", help="Send them now, in this process, and wait.")
        parser.add_argument(
            "--timeout", metavar="SECONDS", help="How long --wait waits, in seconds (default 900, at most a week)."
        )

    def handle(self, *args, **options):
        if options["import_since"] is not None:
            return self._import_again(options)
        since, until = date_option(options["since"], "--since"), date_option(options["until"], "--until")
        if since and until and since > until:
            raise BadArguments(f"--since {since} is after --until {until}.")
        if options["timeout"] is not None and not options["wait"]:
            raise BadArguments("--timeout is how long --wait waits: give --wait too, or leave --timeout out.")
        timeout = seconds_option("900" if options["timeout"] is None else options["timeout"], "--timeout")
        if options["dry_run"] and options["wait"]:
            raise BadArguments("--dry-run changes nothing and --wait sends: choose one.")
        statuses = [STATUSES[s] for s in dict.fromkeys(options["status"] or DEFAULT_STATUSES)]
        kinds = [selectors.RESYNC_KINDS[k] for k in dict.fromkeys(options["kind"] or selectors.RESYNC_KINDS)]
        self.verbosity = options["verbosity"]
        whitelabels, problems = self._whitelabels(options["whitelabel"])
        since_option(since, whitelabels, nothing="no record was billed then")
        until = until_option(until, whitelabels)
        picked = {"statuses": statuses, "kinds": kinds, "since": since, "until": until}
        fields = ("id", "kind", "label", "status", "reason")  # not the payloads: a backfill can be long
        plans = [(w, list(selectors.resync_records(w, **picked).only(*fields))) for w in whitelabels]
        for problem in problems:
            self.stderr.write(self.style.WARNING(f"Not synced: {problem}"))
        if options["dry_run"]:
            self._dry_run(plans)
        else:
            started_at = timezone.now()
            queued = {w.pk: self._queue(w, records) for w, records in plans}
            if options["wait"]:
                ok = self._wait(plans, queued, started_at, timeout)
            else:
                ok = self._queued_summary(plans, queued)
            if not ok:
                raise CommandError("Not everything asked for is in Xero: see above.")
        if problems:
            raise CommandError(f"{len(problems)} whitelabel(s) can't be synced: see above.")

    def _import_again(self, options) -> None:
        day = date_option(options["import_since"], "--import-since")
        whitelabels, problems = self._whitelabels(options["whitelabel"])
        since_option(day, whitelabels, nothing="no payment was entered then")
        for problem in problems:
            self.stderr.write(self.style.WARNING(f"Not read: {problem}"))
        failed = []
        for whitelabel in whitelabels:
            if not imports.imports_from_xero(whitelabel):
                self.stdout.write(f"{whitelabel.slug}: Record payments entered in Xero is off (or pre-paid): not read.")
                continue
            midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=imports.zone_of(whitelabel))
            imports.cursor_rewind(whitelabel=whitelabel, since=midnight)
            try:
                result = imports.payments_import(whitelabel=whitelabel, max_pages=IMPORT_PAGES)
            except XeroError as exc:
                failed.append(whitelabel.slug)
                self.stderr.write(self.style.ERROR(f"{whitelabel.slug}: Xero could not be read: {exc}"))
                continue
            self.stdout.write(
                f"{whitelabel.slug}: read {result.read} payment(s) changed in Xero since {day} in {result.calls} "
                f"call(s); recorded {result.imported}, reversed {result.reversed}."
            )
            for problem in result.problems:
                failed.append(whitelabel.slug)
                self.stdout.write(self.style.WARNING(f"{whitelabel.slug}: {problem}"))
        if failed or problems:
            raise CommandError("Not everything entered in Xero could be read and recorded: see above.")

    # What to do

    def _whitelabels(self, slugs: list[str] | None) -> tuple[list[Whitelabel], list[str]]:
        """The whitelabels to resync, and the problems of those (in the default set) that can't be synced.
        A named whitelabel that is unknown is a bad argument; one that can't be synced is an error."""
        if not slugs:
            whitelabels = selectors.whitelabels_connected()
            problems = {w.pk: selectors.whitelabel_sync_problem(w) for w in whitelabels}
            return [w for w in whitelabels if not problems[w.pk]], [p for p in problems.values() if p]
        named = whitelabels_named(slugs)
        problems = [p for p in (selectors.whitelabel_sync_problem(w) for w in named) if p]
        if problems:
            raise CommandError(" ".join(problems))
        return named, []

    def _dry_run(self, plans) -> None:
        self.stdout.write("Dry run: nothing is changed.")
        rows = []
        for whitelabel, records in plans:
            by_status = {s: sum(r.status == s for r in records) for s in STATUSES.values()}
            rows.append([whitelabel.slug, len(records), *by_status.values()])
            shown = records if self.verbosity >= 2 else records[:LISTED]
            self.stdout.write(f"{whitelabel.slug}: would queue {len(records)} record(s).")
            for record in shown:
                if record.status == Status.SENT:
                    what = "sent; would look it up in Xero and send it only if Xero lacks it"
                else:
                    because = f": {record.reason}" if record.reason else ""
                    what = f"{record.get_status_display().lower()}{because}; would send it again"
                self.stdout.write(f"  {record.get_kind_display()} {record.label} ({what})")
            if len(shown) < len(records):
                self.stdout.write(f"  ... and {len(records) - len(shown)} more (-v 2 lists them all).")
        self._table(["Whitelabel", "Would queue", "Failed", "Skipped", "Sent (re-check)"], rows)

    def _queue(self, whitelabel: Whitelabel, records: list[SyncRecord]) -> int:
        services.read_lock_dates_of(whitelabel)  # what a lock date or the plan held may go now
        again = [r.pk for r in records if r.status != Status.SENT]
        recheck = [r.pk for r in records if r.status == Status.SENT]
        count = 0
        with transaction.atomic():
            for part in selectors.chunks(again):
                count += outbox.records_rearm(whitelabel_id=whitelabel.pk, ids=part)
            for part in selectors.chunks(recheck):
                count += outbox.records_recheck(whitelabel_id=whitelabel.pk, ids=part)
        if self.verbosity >= 1:
            self.stdout.write(f"{whitelabel.slug}: {count} of {len(records)} record(s) queued for Xero.")
        return count

    def _queued_summary(self, plans, queued: dict[int, int]) -> bool:
        rows = [[w.slug, len(records), queued[w.pk], len(records) - queued[w.pk]] for w, records in plans]
        self._table(["Whitelabel", "Asked", "Queued", "Already on its way"], rows)
        if any(queued.values()):
            self.stdout.write("The worker sends them; follow them in the admin, or run again with --wait.")
        return True

    # --wait

    def _wait(self, plans, queued: dict[int, int], started_at: datetime.datetime, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        retry_by = timezone.now() + datetime.timedelta(seconds=timeout)
        outcomes, notes = {}, {}
        progress = Progress(self, total=sum(len(records) for _, records in plans))
        done = 0
        for whitelabel, records in plans:
            ids = [r.pk for r in records]

            def measure(ids=ids, slug=whitelabel.slug, settled_before=done):
                outcome = selectors.resync_outcome(ids, since=started_at, retry_by=retry_by)
                progress.update(settled_before + outcome.settled, slug, outcome)
                return outcome

            outcome, note = engine.run_and_wait(
                whitelabel.pk,
                measure,
                done=lambda outcome: not outcome.on_the_way,
                stuck=lambda outcome, whitelabel=whitelabel: self._stuck(whitelabel),
                deadline=deadline,
            )
            if note:
                notes[whitelabel.slug] = note
            done += outcome.total
            outcomes[whitelabel.slug] = outcome
            progress.update(done, whitelabel.slug, outcome)
        progress.close()
        rows = [
            [w.slug, queued[w.pk], o.already_in_xero, o.sent, o.failed, o.not_sent, o.on_the_way]
            for w, o in ((w, outcomes[w.slug]) for w, _ in plans)
        ]
        self._table(["Whitelabel", "Queued", "Already in Xero", "Sent", "Failed", "Not sent", "On its way"], rows)
        for slug, outcome in outcomes.items():
            for reason, count in outcome.reasons.most_common(3):
                self.stdout.write(f"{slug}: {count} failed: {reason}")
            for reason, count in outcome.not_sent_reasons.most_common(3):
                self.stdout.write(f"{slug}: {count} not sent: {reason}")
            if slug in notes:
                self.stdout.write(self.style.WARNING(f"{slug}: {notes[slug]}"))
        return all(o.all_in_xero for o in outcomes.values())

    def _stuck(self, whitelabel: Whitelabel) -> str | None:
        """Why waiting longer won't help now, if it won't."""
        problem = selectors.whitelabel_sync_problem(whitelabel)
        if problem:
            return problem
        paused = runner.paused_until(whitelabel.pk)
        if paused:
            return (
                f"paused by Xero's limits until {timezone.localtime(paused):%Y-%m-%d %H:%M %Z}; "
                "the worker sends the rest then."
            )
        return None

    def _table(self, headers: list[str], rows: list[list]) -> None:
        cells = [headers, *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for n, row in enumerate(cells):
            self.stdout.write(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
            if n == 0:
                self.stdout.write("  ".join("-" * w for w in widths))


class Progress:
    """A progress bar (tqdm, on stderr) on a terminal; otherwise a plain line at most every few seconds."""

    EVERY = 5.0

    def __init__(self, command: BaseCommand, *, total: int):
        self.command, self.total, self.last, self.printed = command, total, 0.0, -1
        self.bar = None
        if command.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="record", desc="Sending to Xero", file=command.stderr._out)

    def update(self, done: int, slug: str, outcome: selectors.ResyncOutcome) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(slug)
            return
        now = time.monotonic()
        if now - self.last >= self.EVERY or (done == self.total and done != self.printed):
            self.last, self.printed = now, done
            self.command.stdout.write(
                f"{slug}: {done}/{self.total} settled (sent {outcome.sent}, already in Xero "
                f"{outcome.already_in_xero}, failed {outcome.failed}, on its way {outcome.on_the_way})"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
