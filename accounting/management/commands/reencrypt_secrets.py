"""Re-encrypt every secret at rest (Xero tokens, gateway passwords) with the current key, after a
rotation of DJANGO_SECRET_KEY or ENCRYPTION_SALT (README, "Rotating the secrets").

The key is derived from DJANGO_SECRET_KEY and ENCRYPTION_SALT; values written with an old key stay
readable while the old key or salt is listed in DJANGO_SECRET_KEY_FALLBACKS / ENCRYPTION_SALT_FALLBACKS.
This command rewrites them with the current key, after which the fallbacks can go.

Invoke like so:
    python manage.py reencrypt_secrets --check   # how many values still need an old key; writes nothing
    python manage.py reencrypt_secrets           # rewrite those values with the current key
"""

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from encrypted_fields.fields import EncryptedFieldMixin


def encrypted_fields():
    """(model, field) for every encrypted field of every installed model."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedFieldMixin):
                yield model, field


def forget_cached_keys() -> None:
    """The fields derive their keys once per process: derive them again from the current settings."""
    for _, field in encrypted_fields():
        field.__dict__.pop("keys", None)
        field.__dict__.pop("f", None)


class Command(BaseCommand):
    help = "Re-encrypt the secrets at rest with the current DJANGO_SECRET_KEY and ENCRYPTION_SALT."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only count the values that need an old key.")

    def handle(self, *args, check=False, **options):
        forget_cached_keys()
        stale_total, unreadable = 0, []
        for model, field in encrypted_fields():
            label = f"{model._meta.label}.{field.name}"
            current = Fernet(field.keys[0])
            stale = []
            # The stored text, not the decrypted value the field would hand out.
            stored_values = model._base_manager.annotate(_stored=Cast(field.attname, TextField()))
            for pk, stored in stored_values.values_list("pk", "_stored").iterator():
                if not stored:
                    continue
                try:
                    current.decrypt(stored.encode())
                    continue
                except InvalidToken:
                    pass
                try:
                    stale.append((pk, field.f.decrypt(stored.encode()).decode()))
                except InvalidToken:
                    unreadable.append(f"{label} #{pk}")
            stale_total += len(stale)
            if stale and not check:
                with transaction.atomic():
                    for pk, plain in stale:
                        model._base_manager.filter(pk=pk).update(**{field.attname: plain})
            if stale:
                self.stdout.write(f"{label}: {len(stale)} value(s) {'need an old key' if check else 're-encrypted'}")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} value(s) can't be decrypted with the current key nor a fallback:"
                f" {', '.join(unreadable)}. Add the old key to DJANGO_SECRET_KEY_FALLBACKS (or the old salt to"
                " ENCRYPTION_SALT_FALLBACKS) and run again."
            )
        if check:
            self.stdout.write(f"{stale_total} value(s) still need an old key.")
        else:
            self.stdout.write(self.style.SUCCESS(f"{stale_total} value(s) re-encrypted; all use the current key."))
