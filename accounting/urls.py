from django.urls import path

from . import mapping_views, views

app_name = "accounting"

ACCOUNT = "account/<slug:whitelabel>/"
SETTINGS = ACCOUNT + "settings/components/accounting-system/"

urlpatterns = [
    path("account/settings/components/accounting-system/", views.settings_home, name="settings_home"),
    path(ACCOUNT, views.account_page, {"page": "accounting:account"}, name="account"),
    path(ACCOUNT + "settings/", views.account_page, {"page": "accounting:account_settings"}, name="account_settings"),
    path(ACCOUNT + "settings/components/", views.account_page, {"page": "accounting:components"}, name="components"),
    path(SETTINGS, views.accounting_settings, name="settings"),
    path(SETTINGS + "xero/connect/", views.xero_connect, name="xero_connect"),
    path(SETTINGS + "xero/disconnect/", views.xero_disconnect, name="xero_disconnect"),
    path(SETTINGS + "xero/resync/", views.xero_resync, name="xero_resync"),
    path(SETTINGS + "xero/sync/", views.xero_sync_status, name="xero_sync"),
    path(SETTINGS + "xero/mapping/", mapping_views.xero_mapping, name="xero_mapping"),
    path(SETTINGS + "xero/organisation/<int:pending>/", views.xero_organisation, name="xero_organisation"),
    path("accounting/alerts/", views.alert_preferences, name="alerts"),
    path("accounting/xero/callback/", views.xero_callback, name="xero_callback"),
    path("accounting/xero/webhooks/", views.xero_webhook, name="xero_webhook"),
]
