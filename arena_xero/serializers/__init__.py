"""dumpdata/loaddata formats that keep encrypted fields encrypted (SERIALIZATION_MODULES).

Django's serializers write a field's Python value, which for django-fernet-encrypted-fields is the
decrypted secret: `dumpdata` would print every Xero token and gateway password in clear. These write
the ciphertext instead (under the current key); loading decrypts it back, so a dump round-trips while
the same DJANGO_SECRET_KEY and ENCRYPTION_SALT (or their fallbacks) are in force.
"""

import copy

from encrypted_fields.fields import EncryptedFieldMixin


class EncryptedAsStored:
    """Mix into a Django Serializer: encrypted fields are written as ciphertext, never in clear."""

    def handle_field(self, obj, field):
        if isinstance(field, EncryptedFieldMixin):
            stored = copy.copy(obj)
            setattr(stored, field.attname, field.get_prep_value(field.value_from_object(obj)))
            obj = stored
        super().handle_field(obj, field)
