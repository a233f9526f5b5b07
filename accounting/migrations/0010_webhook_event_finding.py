"""A webhook event's result is its `finding` (XeroWebhookEvent.Finding): "outcome" is what a sync attempt
has (SyncAttempt.Outcome)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounting", "0009_webhook_refusals")]

    operations = [migrations.RenameField(model_name="xerowebhookevent", old_name="outcome", new_name="finding")]
