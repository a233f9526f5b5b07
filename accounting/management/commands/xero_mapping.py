"""Show or change a whitelabel's Xero mapping: each line category's revenue account and tracking, each tax
rate's Xero tax type, each payment method's deposit (bank or clearing) account and fee account. Changes are
checked against the connected organisation as the settings page checks them, and apply to records not yet
sent.

Invoke like so:
    python manage.py xero_mapping --whitelabel demo --show
    python manage.py xero_mapping --whitelabel demo --set category=nbn account=201 tracking=Region:NSW
    python manage.py xero_mapping --whitelabel demo --set category=mobile account=202 \
        tracking=Region:VIC tracking=Plan:Business
    python manage.py xero_mapping --whitelabel demo --set method=card account=092 fee_account=404
    python manage.py xero_mapping --whitelabel demo --set tax_rate=0 tax_type=EXEMPTOUTPUT
    python manage.py xero_mapping --whitelabel demo --clear category=nbn
    python manage.py xero_mapping --whitelabel demo --summary on   # pre-paid: one Receive Money a day per method
    python manage.py xero_mapping --whitelabel demo --export > mapping.csv
    python manage.py xero_mapping --whitelabel demo --import mapping.csv

The CSV has the columns kind (category, tax or method), key, account, fee_account, tax_type and tracking
("Region:NSW;Plan:Business"); --import checks every row first and saves all of them or none.
Exit codes: 0 applied (or shown); 2 refused (bad arguments, or a value the organisation would refuse: the
message names the valid choices), nothing changed.
"""

from pathlib import Path

from django.core.management.base import BaseCommand

from accounting import mapping_services, summaries
from accounting.errors import BadArguments, MappingRefused
from accounting.management.options import whitelabels_named
from accounting.mapping_models import MappingOptions

SET_KEYS = ("category", "tax_rate", "method", "account", "fee_account", "tax_type", "tracking")


def parse_pairs(tokens: list[str]) -> dict:
    fields: dict = {"tracking": []}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or key not in SET_KEYS:
            raise BadArguments(f"--set takes key=value pairs with keys {', '.join(SET_KEYS)}; not {token!r}.")
        if key == "tracking":
            fields["tracking"].append(value)
        elif key in fields:
            raise BadArguments(f"{key}= is given twice.")
        else:
            fields[key] = value
    return fields


class Command(BaseCommand):
    help = "Show or change a whitelabel's Xero mapping (categories, tax rates, payment methods)."

    def add_arguments(self, parser):
        parser.add_argument("--whitelabel", required=True, help="The whitelabel's slug.")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--show", action="store_true", help="Print the mapping, defaults included.")
        what.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="Change one mapping.")
        what.add_argument("--clear", metavar="KIND=KEY", help="Remove one mapping: category=nbn, tax_rate=0...")
        what.add_argument("--import", dest="import_file", metavar="FILE.csv", help="Apply a CSV (all rows or none).")
        what.add_argument("--export", action="store_true", help="Print the mapping as CSV.")
        what.add_argument(
            "--summary", choices=["on", "off"], help="Pre-paid: receipts as one Receive Money per day per method."
        )

    def handle(self, *args, **options):
        (whitelabel,) = whitelabels_named([options["whitelabel"]])
        try:
            if options["show"]:
                self._show(whitelabel)
            elif options["export"]:
                self.stdout.write(mapping_services.mapping_export(whitelabel), ending="")
            elif options["set"]:
                mapped = mapping_services.mapping_set(whitelabel=whitelabel, fields=parse_pairs(options["set"]))
                self.stdout.write(self.style.SUCCESS(f"Mapped {mapped} for {whitelabel.slug}."))
            elif options["summary"]:
                summaries.summary_mode_set(whitelabel=whitelabel, on=options["summary"] == "on")
                self.stdout.write(self.style.SUCCESS(f"Daily summary {options['summary']} for {whitelabel.slug}."))
            elif options["clear"]:
                self._clear(whitelabel, options["clear"])
            else:
                path = Path(options["import_file"])
                try:
                    text = path.read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError) as exc:
                    raise BadArguments(f"Can't read {path}: {exc}") from None
                count = mapping_services.mapping_import(whitelabel=whitelabel, text=text)
                self.stdout.write(self.style.SUCCESS(f"Imported {count} mappings for {whitelabel.slug}."))
        except MappingRefused as exc:
            raise BadArguments(f"Refused, nothing changed: {exc}") from None

    def _clear(self, whitelabel, value: str) -> None:
        kind, _, key = value.partition("=")
        kind = {"category": "category", "tax_rate": "tax", "method": "method"}.get(kind)
        if kind is None or not key:
            raise BadArguments("--clear takes category=CODE, tax_rate=PERCENT or method=METHOD.")
        removed = mapping_services.mapping_clear(whitelabel=whitelabel, kind=kind, key=key)
        self.stdout.write(f"Removed {removed} mapping(s); {value} now uses the settings page's default.")

    def _show(self, whitelabel) -> None:
        try:
            org = mapping_services.organisation_options(whitelabel)
        except MappingRefused as exc:
            org = None
            self.stdout.write(self.style.WARNING(str(exc)))
        if org is not None:
            self.stdout.write(f"Xero organisation: {org.name}")
        options = MappingOptions.objects.filter(whitelabel=whitelabel).first()
        self.stdout.write(f"Daily summary: {'on' if options and options.daily_summary else 'off'}")
        for row in mapping_services.mapping_rows(whitelabel, org=org):
            parts = [f"{row.kind:<8} {row.key:<14}"]
            if row.note:
                parts.append(row.note)
            else:
                parts += [f"account={row.account}" if row.account else "", f"fee_account={row.fee_account}"
                          if row.fee_account else "", f"tax_type={row.tax_type}" if row.tax_type else "",
                          f"tracking={row.tracking}" if row.tracking else ""]
            self.stdout.write(" ".join(p for p in parts if p))
