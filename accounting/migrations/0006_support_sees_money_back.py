"""Support staff see credit notes, refunds and their parts too (read-only, like all billing)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MODELS = ["creditnote", "creditnoteline", "creditnoteallocation", "refund", "refundpart"]


def grant(apps, schema_editor):
    config = apps.get_app_config("payments")
    previous = getattr(config, "models_module", None)
    config.models_module = previous or True  # historical app configs have none; create_permissions needs one
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = previous
    group = apps.get_model("auth", "Group").objects.filter(name="Support").first()
    if group is not None:
        Permission = apps.get_model("auth", "Permission")
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="payments", codename__in=[f"view_{m}" for m in MODELS]
            )
        )


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="Support").first()
    if group is not None:
        group.permissions.remove(
            *apps.get_model("auth", "Permission").objects.filter(
                content_type__app_label="payments", codename__in=[f"view_{m}" for m in MODELS]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0005_money_back_kinds"),
        ("payments", "0003_money_back"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
