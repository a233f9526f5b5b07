"""The `Support` group: support staff look at billing and at the sync, and act on sync records only through
the admin's two actions (retry now, skip with a reason). Billing changes only through payments.services.

Permissions are created after all migrations by Django's post_migrate signal, so this migration creates
those of the two apps first (the usual pattern for a data migration that hands out permissions).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
VIEW = {
    "payments": [
        "whitelabel",
        "membership",
        "customer",
        "invoice",
        "invoiceline",
        "payment",
        "allocation",
        "receipt",
        "paymentgatewaysettings",
    ],
    "accounting": [
        "accountingsettings",
        "xeroconnection",
        "syncrecord",
        "syncattempt",
        "syncstate",
        "whitelabelsync",
    ],
}
ACTIONS = {"accounting": ["retry_syncrecord", "skip_syncrecord"]}


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    wanted = []
    for app_label, models in VIEW.items():
        codenames = [f"view_{model}" for model in models] + ACTIONS.get(app_label, [])
        found = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        missing = set(codenames) - {p.codename for p in found}
        if missing:
            raise RuntimeError(f"Permissions missing for the Support group: {sorted(missing)}")
        wanted += found
    return wanted


def create_support_group(apps, schema_editor):
    for app_label in ("payments", "accounting"):
        config = apps.get_app_config(app_label)
        # Historical app configs have no models module, and create_permissions skips those.
        previous = getattr(config, "models_module", None)
        config.models_module = previous or True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = previous
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.set(_permissions(apps))


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0003_support_fields"),
        ("payments", "0002_whitelabel_time_zone"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
