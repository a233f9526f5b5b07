"""Compare whitelabels' books in Arena with their Xero organisations' and list every difference (drift).

Invoke like so:
    python manage.py xero_reconcile                               # every connected whitelabel, everything
    python manage.py xero_reconcile --whitelabel demo             # one whitelabel (repeatable)
    python manage.py xero_reconcile --whitelabel demo --since 2026-05-01   # what changed on either side since
    python manage.py xero_reconcile --whitelabel demo --fix       # and send again what Xero lacks, only that
    python manage.py xero_reconcile --format json > drift.json    # for a script

Each difference has a kind (missing in Xero, extra in Xero, amount differs, status differs, changed in Xero
after sending), the record, its customer, both values and both ids; the README's "Drift" section says what
each kind means. What a person changed in Xero is flagged on its sync record and never overwritten; --fix
only sends again records Xero lacks (looked up first), in this process.
Exit codes: 0 the books agree (after --fix, everything missing was sent); 1 drift; 2 bad arguments (an
unknown whitelabel, a bad date, a --since after today: a window that compares nothing), or a whitelabel could
not be compared (not connected, Xero unreachable): see stderr.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounting import reconcile, selectors
from accounting.errors import NotConnected
from accounting.management.options import date_option, since_option, whitelabels_named
from accounting.models import SyncRecord
from accounting.xero.errors import XeroError
from payments.models import Whitelabel

DriftKind = reconcile.DriftKind
COLUMNS = ["Kind", "What", "Record", "Customer", "Arena", "Xero", "Arena id", "Xero id", "Detail"]


class Command(BaseCommand):
    help = (
        "Compare whitelabels' books in Arena and Xero and list every difference. "
        "Exit 0: the books agree; 1: drift; 2: bad arguments or a whitelabel could not be compared."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--whitelabel",
            action="append",
            metavar="SLUG",
            help="A whitelabel's slug (repeatable). Default: every whitelabel connected to Xero.",
        )
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="Only what Arena sent, or Xero changed, on or after DATE (YYYY-MM-DD, the whitelabel's time zone).",
        )
        parser.add_argument("--fix", action="store_true", help="Send again what Xero lacks (and only that).")
        parser.add_argument("--format", choices=["table", "json"], default="table", help="How to print the report.")

    def handle(self, *args, **options):
        since = date_option(options["since"], "--since")
        whitelabels = self._whitelabels(options["whitelabel"])
        since_option(
            since,
            whitelabels,
            nothing="Arena sent nothing and Xero changed nothing since then, so the reconcile would compare nothing",
        )
        progress = Progress(self, total=len(whitelabels), quiet=options["verbosity"] < 1)
        reports, problems = [], []
        for whitelabel in whitelabels:
            progress.start(whitelabel.slug)
            start = selectors.whitelabel_day_start(whitelabel, since) if since else None
            try:
                report = reconcile.whitelabel_reconcile(
                    whitelabel=whitelabel, since=start, fix=options["fix"], progress=progress.step
                )
            except (NotConnected, XeroError) as exc:
                problems.append((whitelabel, str(exc)))
            else:
                reports.append(report)
            progress.done()
        progress.close()
        if options["format"] == "json":
            self.stdout.write(json.dumps(_as_json(reports, problems, fix=options["fix"]), indent=2))
        else:
            self._tables(reports, fix=options["fix"])
        for whitelabel, problem in problems:
            self.stderr.write(self.style.ERROR(f"{whitelabel.slug}: not compared: {problem}"))
        drift = sum(len(r.remaining) for r in reports)
        if drift:
            raise CommandError(
                f"Drift: {drift} difference(s) in {sum(1 for r in reports if r.remaining)} whitelabel(s).",
                returncode=1,
            )
        if problems:
            raise CommandError(f"{len(problems)} whitelabel(s) could not be compared: see above.", returncode=2)

    def _whitelabels(self, slugs: list[str] | None) -> list[Whitelabel]:
        return whitelabels_named(slugs) if slugs else selectors.whitelabels_connected()

    # The table

    def _tables(self, reports: list[reconcile.Report], *, fix: bool) -> None:
        for report in reports:
            since = (
                f"since {timezone.localtime(report.since, report.whitelabel.tzinfo):%Y-%m-%d}"
                if report.since
                else "everything"
            )
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    f"{report.whitelabel.slug} / {report.organisation} ({since}; {report.calls} calls to Xero)"
                )
            )
            if report.since and not set(report.comparison.compared) - {"settings"}:
                self.stdout.write(
                    f"  Compared only the settings: Arena sent nothing, and Xero changed nothing of Arena's, {since}."
                )
            if report.unread:
                self.stdout.write(
                    f"  Not read, so not compared: {', '.join(report.unread)} (the run's share of the day's calls ran"
                    " out); the next nightly run reads them."
                )
            if not report.differences:
                self.stdout.write("  The books agree." if not report.unread else "  What was read agrees.")
            else:
                fixed = {d.record_id for d in report.fixed}
                rows = [[*_row(d), d.detail + _note(d, fixed, fix)] for d in report.differences]
                self._table(COLUMNS, rows, indent="  ")
            if report.comparison.not_sent:
                counts = ", ".join(
                    f"{n} {SyncRecord.Status(status).label.lower()}"
                    for status, n in sorted(report.comparison.not_sent.items())
                )
                self.stdout.write(
                    f"  Not compared, as Arena has not sent them: {counts} (the sync card and resync_xero deal with "
                    "these; skipped ones include invoices voided before they reached Xero)."
                )
        if not reports:
            return
        self.stdout.write("")
        kinds = [k.label[0].upper() + k.label[1:] for k in DriftKind]
        headers = ["Whitelabel", "Organisation", "Compared", *kinds, "Sent again", "Agree"]
        rows = []
        for report in reports:
            counts = {kind: sum(d.kind == kind for d in report.differences) for kind in DriftKind}
            rows.append(
                [
                    report.whitelabel.slug,
                    report.organisation,
                    sum(report.comparison.compared.values()),
                    *counts.values(),
                    len(report.fixed) if fix else "-",
                    "yes" if report.agrees else "no",
                ]
            )
        self._table(headers, rows)

    def _table(self, headers: list[str], rows: list[list], indent: str = "") -> None:
        cells = [headers, *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        widths[-1] = len(headers[-1]) if headers is COLUMNS else widths[-1]  # the detail runs on
        for n, row in enumerate(cells):
            line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            self.stdout.write(indent + line.rstrip())
            if n == 0:
                self.stdout.write(indent + "  ".join("-" * w for w in widths))


def _row(d: reconcile.Difference) -> list[str]:
    return [
        d.kind_label,
        d.what,
        d.label,
        d.customer or "-",
        d.arena or "-",
        d.xero or "-",
        d.arena_id or "-",
        d.xero_id or "-",
    ]


def _note(d: reconcile.Difference, fixed: set, fix: bool) -> str:
    if d.by_person:
        return " [changed in Xero: flagged, not overwritten]"
    if d.fixable and d.record_id in fixed:
        return " [sent again]"
    if d.fixable:
        return " [--fix sends it again]" if not fix else " [sent again, but not in Xero yet: see the sync card]"
    return ""


def _as_json(reports, problems, *, fix: bool) -> dict:
    return {
        "agree": not problems and all(r.agrees for r in reports),
        "fix": fix,
        "whitelabels": [
            {
                "whitelabel": r.whitelabel.slug,
                "organisation": r.organisation,
                "tenant_id": r.tenant_id,
                "since": r.since.isoformat() if r.since else None,
                "compared": dict(r.comparison.compared),
                "not_sent": dict(r.comparison.not_sent),
                "calls": r.calls,
                "not_read": r.unread,
                "reconciliation": r.reconciliation_id,
                "agree": r.agrees,
                "differences": [{**d.as_dict(), "sent_again": d in r.fixed} for d in r.differences],
            }
            for r in reports
        ],
        "not_compared": [{"whitelabel": w.slug, "reason": reason} for w, reason in problems],
    }


class Progress:
    """A progress bar (tqdm, on stderr) on a terminal when tqdm is installed; otherwise plain lines on stderr."""

    def __init__(self, command: BaseCommand, *, total: int, quiet: bool):
        self.command, self.quiet, self.slug, self.bar = command, quiet, "", None
        if not quiet and command.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="whitelabel", desc="Reconciling", file=sys.stderr)

    def start(self, slug: str) -> None:
        self.slug = slug
        self.step("reading Xero")

    def step(self, message: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.slug}: {message}")
        else:
            self.command.stderr.write(f"{self.slug}: {message}")

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
