"""The support console's view of the integration: accounting settings, Xero connections (never a token),
the sync records with their history of attempts, and a summary per whitelabel. All read-only; the two
things support may do are a sync record's actions, retry now and skip with a reason, which call the
outbox's services. Reads come from accounting.selectors.

Why one long module: the Django admin's convention (an app's admin.py registers its models); most of it is
the sync records' page, whose list, filters, actions and history belong together.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.filters import DateFieldListFilter
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import OuterRef
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import ngettext

from arena_xero.admin import ReadOnlyAdmin, ReadOnlyInline, zoned

from . import selectors
from .imports import import_problems_clear
from .models import (
    AccountingSettings,
    SyncAttempt,
    SyncRecord,
    WhitelabelSync,
    XeroConnection,
    XeroImportCursor,
    XeroWebhookRefusal,
)
from .sync import kinds, outbox

Status = SyncRecord.Status
SKIP_LISTED = 50  # records the skip page names (it acts on all of those selected)


def pretty_json(value, *, summary: str, unfolded: bool = False) -> str:
    """JSON indented, under a summary line that folds it away (what was sent, what Xero answered)."""
    if value in (None, "", {}, []):
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html(
        '<details class="arena-json"{}><summary>{}</summary><pre>{}</pre></details>',
        " open" if unfolded else "",
        summary,
        text,
    )


def admin_link(model: str, pk, text: str, *, app: str = "accounting") -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{app}_{model}_change", args=[pk]), text)


def short_id(xero_id: str) -> str:
    return f"{xero_id[:8]}…" if len(xero_id) > 9 else xero_id


def when(moment) -> str:
    """A moment as the admin shows its own dates: the site's time zone, named (arena_xero.admin.zoned)."""
    return zoned(moment)


class KindFilter(admin.SimpleListFilter):
    """The kinds of record, in the order a run sends them, each with the payment types that send it (the
    table of sync/kinds.py)."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        types = {"postpaid": "post-paid", "prepaid": "pre-paid"}
        return [
            (row.kind, f"{row.label} ({' and '.join(types[t] for t in sorted(row.sends, reverse=True))})")
            for row in kinds.KINDS
        ]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() in kinds.BY_KIND else queryset


class BilledFilter(DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "when billed"


# Accounting settings and connections ----------------------------------------------------------------


@admin.register(AccountingSettings)
class AccountingSettingsAdmin(ReadOnlyAdmin):
    list_display = [
        "whitelabel",
        "accounting_system",
        "payment_type",
        "revenue_code",
        "bank_account_code",
        "updated_at",
    ]
    list_filter = ["accounting_system", "payment_type"]
    search_fields = ["whitelabel__name", "whitelabel__slug"]


class NeedsReconnectFilter(admin.SimpleListFilter):
    title = "needs reconnect"
    parameter_name = "needs_reconnect"

    def lookups(self, request, model_admin):
        return [("yes", "Yes: an admin must reconnect"), ("no", "No")]

    def queryset(self, request, queryset):
        needs = XeroConnection.Status.NEEDS_RECONNECT
        if self.value() == "yes":
            return queryset.filter(status=needs)
        if self.value() == "no":
            return queryset.exclude(status=needs)
        return queryset


@admin.register(XeroConnection)
class XeroConnectionAdmin(ReadOnlyAdmin):
    """Who connected which organisation, and whether it still works. The tokens are never rendered:
    `fields` names everything shown, and they are not among them."""

    list_display = ["whitelabel", "tenant_name", "status", "connected_by", "connected_at", "refreshed_at"]
    list_filter = [NeedsReconnectFilter, "status"]
    search_fields = ["whitelabel__name", "whitelabel__slug", "tenant_name", "tenant_id"]
    list_select_related = ["whitelabel", "connected_by"]
    fields = [
        "whitelabel",
        "tenant_name",
        "tenant_id",
        "short_code",
        "status",
        "status_reason",
        "connected_by",
        "connected_as",
        "connected_at",
        "refreshed_at",
        "access_token_expires_at",
        "scope_list",
        "connection_id",
        "auth_event_id",
        "disconnected_at",
    ]
    readonly_fields = ["scope_list"]

    @admin.display(description="Scopes Xero granted")
    def scope_list(self, obj):
        scopes = obj.scopes.split()
        return format_html_join(", ", "<code>{}</code>", ((s,) for s in scopes)) if scopes else "—"

    def changelist_view(self, request, extra_context=None):
        """Says how many of the organisations Xero lets Arena's app connect are used, and warns from 80%."""
        usage = selectors.app_connections()
        title = f"Xero connections: {usage.used} of the {usage.limit} organisations Xero lets Arena's app connect"
        if usage.nearly_full:
            messages.warning(
                request,
                f"{usage.used} of {usage.limit} used: at {usage.limit}, Xero refuses every new organisation until "
                "the app completes Xero's certification (developer.xero.com > App Partner programme), and "
                "whitelabels that try to connect are told to ask support. Disconnecting a whitelabel frees one.",
            )
        return super().changelist_view(request, extra_context={"title": title, **(extra_context or {})})


# Sync records -------------------------------------------------------------------------------------


class OrganisationFilter(admin.SimpleListFilter):
    """The Xero organisation a record is in (the one its Xero id belongs to)."""

    title = "Xero organisation"
    parameter_name = "organisation"
    NONE = "none"

    def lookups(self, request, model_admin):
        names = selectors.organisation_names()
        tenants = sorted(
            {
                t.lower()
                for t in SyncRecord.objects.exclude(xero_tenant_id="")
                .values_list("xero_tenant_id", flat=True)
                .distinct()
                .order_by()
            }
        )
        return [(t, names.get(t, t)) for t in tenants] + [(self.NONE, "In no organisation yet")]

    def queryset(self, request, queryset):
        if self.value() == self.NONE:
            return queryset.filter(xero_tenant_id="")
        if self.value():
            return queryset.filter(xero_tenant_id__iexact=self.value())
        return queryset


class SyncAttemptInline(ReadOnlyInline):
    model = SyncAttempt
    verbose_name = "attempt"
    verbose_name_plural = "History of attempts (newest first)"
    fields = ["started_at", "operation", "outcome", "took", "version", "message", "sent_and_answer"]
    readonly_fields = ["took", "sent_and_answer"]
    ordering = ["-started_at", "-id"]

    @admin.display(description="Took")
    def took(self, obj):
        return f"{obj.duration_ms} ms"

    @admin.display(description="What was sent, what came back")
    def sent_and_answer(self, obj):
        return format_html(
            "{}{}", pretty_json(obj.request, summary="Sent"), pretty_json(obj.response, summary="Xero's answer")
        )


class SkipForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=500,
        help_text="Kept on each record, e.g. 'Entered in Xero by hand by the customer's bookkeeper.'",
    )


class ChangedInXeroFilter(admin.SimpleListFilter):
    """Records a person changed in Xero after Arena sent them (found by a webhook or the reconcile)."""

    title = "changed in Xero"
    parameter_name = "changed_in_xero"

    def lookups(self, request, model_admin):
        return [("yes", "Changed in Xero"), ("no", "Not changed in Xero")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(changed_in_xero_at__isnull=self.value() == "no")
        return queryset


@admin.register(SyncRecord)
class SyncRecordAdmin(ReadOnlyAdmin):
    # Fits a 1024 px window beside the filters: attempts and the next one are under the status.
    list_display = [
        "record_label",
        "kind",
        "whitelabel",
        "status_and_attempts",
        "in_xero",
        "changed_in_xero",
        "reason_start",
    ]
    list_display_links = ["record_label"]
    list_filter = [
        "status",
        KindFilter,
        "whitelabel",
        OrganisationFilter,
        "outcome_unknown",
        ChangedInXeroFilter,
        "origin",  # "Entered in Xero": payments a person entered there, recorded in Arena (with their Xero link)
        ("created_at", BilledFilter),
    ]
    list_select_related = ["whitelabel"]
    search_fields = ["label", "xero_id"]
    search_help_text = "An invoice or receipt number, a customer's name, account number or email, a label or a Xero id."
    list_per_page = 50
    actions = ["retry_now", "skip_records", "resolve_changes_in_xero"]
    inlines = [SyncAttemptInline]
    fieldsets = [
        (None, {"fields": ["label", "kind", "whitelabel", "origin", "arena_object", "status", "reason", "waits_for"]}),
        (
            "In Xero",
            {
                "fields": [
                    "open_in_xero",
                    "xero_id",
                    "organisation",
                    "sent_at",
                    "outcome",
                    "changed_in_xero_at",
                    "xero_change",
                ]
            },
        ),
        ("Attempts", {"fields": ["attempts", "next_attempt", "claimed_until", "version", "created_at", "updated_at"]}),
        ("Payload and answer", {"fields": ["payload_pretty", "response_pretty"]}),
    ]
    readonly_fields = [
        "arena_object",
        "waits_for",
        "outcome",
        "open_in_xero",
        "organisation",
        "next_attempt",
        "payload_pretty",
        "response_pretty",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(short_code=selectors.short_code_of(OuterRef("xero_tenant_id")))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The record's page offers the actions too (templates/admin/accounting/syncrecord/change_form.html).
        extra_context = {
            **(extra_context or {}),
            "has_retry_permission": self.has_retry_permission(request),
            "has_skip_permission": self.has_skip_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            results = results | queryset.filter(selectors.records_matching(term))
        return results, may_have_duplicates

    # Columns and fields

    @admin.display(description="In Xero")
    def in_xero(self, obj):
        link = selectors.record_xero_link(obj, short_code=getattr(obj, "short_code", None) or "")
        if not link:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener" title="Open {} in Xero">{} ↗</a>',
            link,
            obj.xero_id,
            short_id(obj.xero_id),
        )

    @admin.display(description="Label", ordering="label")
    def record_label(self, obj):
        """The record's label, broken only at its spaces in a narrow column: "53.90 to" / "INV-000003", never
        "INV-" / "000003"."""
        return format_html_join(" ", '<span class="arena-word">{}</span>', ((word,) for word in obj.label.split()))

    @admin.display(description="Status", ordering="status")
    def status_and_attempts(self, obj):
        """The status, and under it the attempts made and when the next one is (when they tell anything)."""
        if obj.status == Status.SENT and obj.attempts <= 1:
            return obj.get_status_display()
        detail = ngettext("%(count)d attempt", "%(count)d attempts", obj.attempts) % {"count": obj.attempts}
        if obj.next_attempt_at:
            detail += f", next {when(obj.next_attempt_at)}"
        elif obj.status == Status.FAILED:
            detail += ", none left"
        return format_html('{}<br><span class="arena-small">{}</span>', obj.get_status_display(), detail)

    @admin.display(description="Reason")
    def reason_start(self, obj):
        if not obj.reason:
            return ""
        return format_html('<span title="{}">{}</span>', obj.reason, Truncator(obj.reason).chars(70))

    @admin.display(description="Arena record")
    def arena_object(self, obj):
        found = selectors.record_arena_object(obj)
        if found is None:
            return "It no longer exists in Arena."
        return admin_link(found.model, found.pk, found.text, app="payments")

    @admin.display(description="Waits for")
    def waits_for(self, obj):
        if obj.blocked_by_id is None:
            return "—"
        return admin_link("syncrecord", obj.blocked_by_id, str(obj.blocked_by))

    @admin.display(description="Open in Xero")
    def open_in_xero(self, obj):
        link = selectors.record_xero_link(obj, short_code=getattr(obj, "short_code", None) or "")
        if not link:
            return "Not in Xero yet."
        if getattr(obj, "short_code", None):
            note = "it switches to the record's organisation first"
        else:
            note = "Arena has no short code for its organisation: it opens in the organisation open in Xero"
        return format_html('<a href="{}" target="_blank" rel="noopener">Open in Xero ↗</a> ({})', link, note)

    @admin.display(description="Xero organisation")
    def organisation(self, obj):
        if not obj.xero_tenant_id:
            return "—"
        return selectors.organisation_names().get(obj.xero_tenant_id.lower(), obj.xero_tenant_id)

    @admin.display(description="Next attempt")
    def next_attempt(self, obj):
        if obj.next_attempt_at:
            return when(obj.next_attempt_at)
        if obj.status == Status.FAILED:
            return "None: attempts ran out. Fix the cause, then retry it."
        if obj.status == Status.WAITING:
            return "When the record it waits for is sent."
        return "—"

    @admin.display(description="Payload sent")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload, summary="The last payload sent to Xero", unfolded=True)

    @admin.display(description="Xero's answer")
    def response_pretty(self, obj):
        return pretty_json(obj.response, summary="What Xero answered for this record", unfolded=True)

    # Actions: the only changes support makes, through the outbox's services

    def has_retry_permission(self, request):
        return request.user.has_perm("accounting.retry_syncrecord")

    def has_skip_permission(self, request):
        return request.user.has_perm("accounting.skip_syncrecord")

    def _back(self, request, queryset):
        """From a record's own page, back to it; from the list, to the list (None)."""
        if request.POST.get("_from_record") and queryset.count() == 1:
            return HttpResponseRedirect(reverse("admin:accounting_syncrecord_change", args=[queryset.get().pk]))
        return None

    @admin.display(description="Changed in Xero", ordering="changed_in_xero_at")
    def changed_in_xero(self, obj):
        """In words: a green tick would read as good news."""
        if obj.changed_in_xero_at is None:
            return "No"
        return format_html('<strong class="bad" title="{}">Yes</strong>', obj.xero_change)

    @admin.display(description="Outcome unknown")
    def outcome(self, obj):
        """In words: a red cross beside the field's help ("a call was made whose answer never arrived") misleads
        on a healthy record."""
        if obj.outcome_unknown:
            return (
                "Yes: a call was made whose answer never arrived. Arena looks the record up in Xero before sending "
                "it again."
            )
        return "No: the answer to every call made for it arrived."

    @admin.action(description="Mark the changes in Xero as resolved", permissions=["retry"])
    def resolve_changes_in_xero(self, request, queryset):
        with transaction.atomic():
            chosen = SyncRecord.objects.filter(pk__in=queryset.values("pk"), changed_in_xero_at__isnull=False)
            flagged = list(chosen.select_for_update())
            count = outbox.records_resolve_changed_in_xero(ids=[record.pk for record in flagged])
            for record in flagged:
                self.log_change(request, record, f"Changes in Xero resolved: {record.xero_change}"[:2000])
        messages.success(
            request,
            ngettext("%(count)d change in Xero resolved.", "%(count)d changes in Xero resolved.", count)
            % {"count": count},
        )
        return self._back(request, queryset)

    @admin.action(description="Retry the selected records now", permissions=["retry"])
    def retry_now(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        with transaction.atomic():
            shown = SyncRecord.objects.filter(pk__in=ids).only("id", "kind", "label", "status", "reason")
            before = {record.pk: record for record in shown}
            retried = outbox.records_retry(ids=ids)
            for pk in retried:
                record = before[pk]
                was = f"it was {record.get_status_display().lower()}"
                was = f"it had failed: {record.reason}" if record.status == Status.FAILED and record.reason else was
                self.log_change(request, record, f"Retry now: sent again at once; {was}"[:2000])
        count = len(retried)
        message = ngettext("%(count)d record will be sent again.", "%(count)d records will be sent again.", count)
        messages.success(request, message % {"count": count})
        if count < len(ids):
            messages.warning(
                request,
                ngettext(
                    "%(count)d record was left as it is: it is sent, waits for another record, is being sent "
                    "right now, or its whitelabel is not connected.",
                    "%(count)d records were left as they are: they are sent, wait for another record, are being "
                    "sent right now, or their whitelabel is not connected.",
                    len(ids) - count,
                )
                % {"count": len(ids) - count},
            )
        return self._back(request, queryset)

    @admin.action(description="Skip the selected records, with a reason…", permissions=["skip"])
    def skip_records(self, request, queryset):
        form = SkipForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            ids = list(queryset.values_list("id", flat=True))
            reason = form.cleaned_data["reason"]
            with transaction.atomic():
                count = outbox.records_skip(ids=ids, reason=reason, by=request.user.get_username())
                for record in queryset.filter(status=Status.SKIPPED):
                    self.log_change(request, record, f"Skipped: {reason}")
            messages.success(
                request,
                ngettext("%(count)d record was skipped.", "%(count)d records were skipped.", count) % {"count": count},
            )
            return self._back(request, queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": "Skip sync records",
            "opts": self.model._meta,
            "records": queryset.select_related("whitelabel")[:SKIP_LISTED],
            "count": queryset.count(),
            "sent": queryset.filter(status=Status.SENT).count(),
            "select_across": request.POST.get("select_across", "0"),
            "form": form,
            "action": "skip_records",
            "from_record": request.POST.get("_from_record", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/accounting/syncrecord/skip.html", context)


# The summary per whitelabel ---------------------------------------------------------------------------


def _records_link(whitelabel_id: int, count: int, **filters) -> str:
    if not count:
        return "0"
    query = "&".join([f"whitelabel__id__exact={whitelabel_id}", *(f"{k}={v}" for k, v in filters.items())])
    return format_html('<a href="{}?{}">{}</a>', reverse("admin:accounting_syncrecord_changelist"), query, count)


@admin.register(WhitelabelSync)
class WhitelabelSyncAdmin(ReadOnlyAdmin):
    """One line per whitelabel, and a page each: can its records reach Xero, how many are where, how far
    behind it is, when Xero last accepted one, and whether Xero's limits pause it."""

    list_display = [
        "name",
        "connection",
        "on_their_way",
        "failed",
        "held",
        "not_sent",
        "sent",
        "oldest_unsent",
        "last_sent",
        "paused",
    ]
    search_fields = ["name", "slug"]
    fieldsets = [
        ("Connection", {"fields": ["health", "organisation", "connected", "last_refresh", "scopes"]}),
        ("Records", {"fields": ["records_by_status", "oldest_not_in_xero", "last_successful_send", "pause"]}),
    ]
    readonly_fields = [
        "health",
        "organisation",
        "connected",
        "last_refresh",
        "scopes",
        "records_by_status",
        "oldest_not_in_xero",
        "last_successful_send",
        "pause",
    ]

    def get_queryset(self, request):
        return selectors.whitelabels_with_sync_counts(super().get_queryset(request))

    def _health(self, obj) -> selectors.SyncHealth:
        if not hasattr(obj, "_sync_health"):
            obj._sync_health = selectors.sync_health(obj)
        return obj._sync_health

    # The list

    @admin.display(description="Connection", ordering="connection_status")
    def connection(self, obj):
        if not obj.connection_status:
            return "Not connected"
        status = XeroConnection.Status(obj.connection_status).label
        return f"{status}: {obj.organisation}" if obj.connection_status != "disconnected" else status

    @admin.display(description="On their way")
    def on_their_way(self, obj):
        return obj.n_pending + obj.n_waiting

    @admin.display(description="Failed", ordering="n_failed")
    def failed(self, obj):
        return _records_link(obj.pk, obj.n_failed, status__exact=Status.FAILED)

    @admin.display(description="Held by Xero", ordering="n_held")
    def held(self, obj):
        """Held by the organisation's lock date or plan: no call is made for them until that changes."""
        return _records_link(obj.pk, obj.n_held, status__exact=Status.HELD)

    @admin.display(description="Not sent", ordering="n_skipped")
    def not_sent(self, obj):
        return _records_link(obj.pk, obj.n_skipped, status__exact=Status.SKIPPED)

    @admin.display(description="Sent", ordering="n_sent")
    def sent(self, obj):
        return obj.n_sent

    @admin.display(description="Oldest not in Xero", ordering="oldest_unsent_at")
    def oldest_unsent(self, obj):
        return when(obj.oldest_unsent_at)

    @admin.display(description="Last sent", ordering="last_sent_at")
    def last_sent(self, obj):
        return when(obj.last_sent_at)

    @admin.display(description="Paused until", ordering="paused_until")
    def paused(self, obj):
        return when(obj.paused_until) if obj.paused_until and obj.paused_until > timezone.now() else "—"

    # The page

    @admin.display(description="Health")
    def health(self, obj):
        health = self._health(obj)
        return format_html(
            '<strong class="{}">{}</strong>', "ok" if health.healthy else "bad", health.connection_health
        )

    @admin.display(description="Xero organisation")
    def organisation(self, obj):
        connection = self._health(obj).connection
        if connection is None:
            return "—"
        return admin_link("xeroconnection", connection.pk, f"{connection.tenant_name} ({connection.tenant_id})")

    @admin.display(description="Connected")
    def connected(self, obj):
        connection = self._health(obj).connection
        if connection is None:
            return "—"
        who = connection.connected_by or "someone no longer in Arena"
        xero_user = f" (Xero user {connection.connected_as})" if connection.connected_as else ""
        return f"By {who}{xero_user}, {when(connection.connected_at)}"

    @admin.display(description="Last token refresh")
    def last_refresh(self, obj):
        connection = self._health(obj).connection
        return when(connection and connection.refreshed_at)

    @admin.display(description="Scopes")
    def scopes(self, obj):
        connection = self._health(obj).connection
        return (connection and connection.scopes) or "—"

    @admin.display(description="Records by status")
    def records_by_status(self, obj):
        counts = self._health(obj).counts
        rows = [(label, _records_link(obj.pk, counts[value], status__exact=value)) for value, label in Status.choices]
        return format_html(
            '<table class="arena-counts">{}</table>', format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    @admin.display(description="Oldest record not in Xero")
    def oldest_not_in_xero(self, obj):
        record = self._health(obj).oldest_unsent
        if record is None:
            return "None: everything billed is in Xero, or was deliberately not sent."
        age = timezone.now() - record.created_at
        return format_html(
            "{} ({}), billed {} ago: {}",
            admin_link("syncrecord", record.pk, str(record)),
            record.get_status_display(),
            f"{age.days} days" if age.days else f"{age.seconds // 3600} h {age.seconds % 3600 // 60} min",
            record.reason or "no reason given yet",
        )

    @admin.display(description="Last successful send")
    def last_successful_send(self, obj):
        return when(self._health(obj).last_sent_at) if self._health(obj).last_sent_at else "Never"

    @admin.display(description="Paused by Xero's limits")
    def pause(self, obj):
        health = self._health(obj)
        if not health.paused_until:
            return "No"
        return f"Until {when(health.paused_until)}: {health.pause_reason}"


@admin.register(XeroWebhookRefusal)
class XeroWebhookRefusalAdmin(ReadOnlyAdmin):
    """Posts to the webhook URL that were not Xero's signed deliveries, counted per day (never stored). A
    steady count with "does not match XERO_WEBHOOK_KEY" means the key differs from Xero's."""

    list_display = ["day", "count", "last_at", "last_reason"]
    date_hierarchy = "day"


@admin.register(XeroImportCursor)
class XeroImportCursorAdmin(ReadOnlyAdmin):
    """How far Arena has read what people entered in each organisation (payments, credit, credit notes), what it
    recorded, and what the latest read with a problem could not record. Support may clear that note once the
    problem is settled (in Xero, or by hand in Arena)."""

    list_display = ["whitelabel", "tenant_id", "last_read", "reads", "imported", "reversed", "problem"]
    list_filter = ["whitelabel"]
    actions = ["clear_problem"]

    @admin.display(description="Last read")
    def last_read(self, cursor):
        return when(cursor.last_read_at) if cursor.last_read_at else "—"

    @admin.display(description="Not recorded")
    def problem(self, cursor):
        if not cursor.last_error:
            return "—"
        return f"{when(cursor.last_error_at)}: {Truncator(cursor.last_error).chars(200)}"

    def has_retry_permission(self, request):
        return request.user.has_perm("accounting.retry_syncrecord")

    @admin.action(description="Clear the note of what was not recorded", permissions=["retry"])
    def clear_problem(self, request, queryset):
        count = import_problems_clear(ids=list(queryset.values_list("pk", flat=True)))
        for cursor in queryset:
            self.log_change(request, cursor, "Cleared the note of what was not recorded from Xero")
        cleared = ngettext("%(count)d note cleared.", "%(count)d notes cleared.", count) % {"count": count}
        messages.success(request, cleared)


from . import mapping_admin  # noqa: E402, F401  (registers the mapping, read-only)
