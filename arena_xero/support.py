"""The `Support` group: support staff see billing and the sync in the admin, and act on sync records only
through its two actions (retry now, skip with a reason). Billing changes only through payments.services.

Accounting's migrations 0004, 0006, 0009 and 0015 create the group (with their own frozen copies of this list, as
migrations must); `support_group_ensure` puts it back as described here: load_demo_data calls it, so the
demo's `support` user can work also on a database that was flushed (tests) or migrated before a model was
added.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

SUPPORT_GROUP = "Support"
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
        "creditnote",
        "creditnoteline",
        "creditnoteallocation",
        "refund",
        "refundpart",
    ],
    "accounting": [
        "accountingsettings",
        "xeroconnection",
        "syncrecord",
        "syncattempt",
        "syncstate",
        "whitelabelsync",
        "xerowebhookrefusal",
        "xeroimportcursor",
    ],
}
ACTIONS = {"accounting": ["retry_syncrecord", "skip_syncrecord"]}


def support_permissions() -> list[Permission]:
    wanted = Q(pk__in=[])
    for app_label, models in VIEW.items():
        codenames = [f"view_{model}" for model in models] + ACTIONS.get(app_label, [])
        wanted |= Q(content_type__app_label=app_label, codename__in=codenames)
    return list(Permission.objects.filter(wanted))


def support_group_ensure() -> Group:
    """The Support group with exactly its permissions (created if missing)."""
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(support_permissions())
    return group
