"""Receivers for billing changes: one per billing model that a row of sync/kinds.py is triggered by. Each
writes the outbox rows of that save in the same transaction and asks for a sync after commit; they never
call Xero."""

from django.db.models.signals import post_save

from .sync import kinds
from .sync.outbox import record_enqueue


def billing_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """Put in the outbox what this save means for Xero (the kinds whose trigger fires)."""
    fields = frozenset(update_fields) if update_fields is not None else None
    for row, trigger in kinds.triggered_by(sender):
        if not trigger.when(instance, created, fields):
            continue
        object_id = trigger.target(instance)
        record_enqueue(
            whitelabel_id=trigger.whitelabel_id(instance),
            kind=row.kind,
            object_id=object_id,
            label=trigger.label(instance),
            resend=trigger.resend and not created,
            created=created and trigger.object_id is None,  # the saved record is new: its row is too
        )


def connect_receivers() -> None:
    for model in kinds.trigger_models():
        post_save.connect(billing_saved, sender=model, dispatch_uid=f"accounting.{model._meta.model_name}_saved")
