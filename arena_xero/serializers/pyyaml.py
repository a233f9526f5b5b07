"""Django's pyyaml serializer, with encrypted fields written as ciphertext (see the package)."""

from django.core.serializers import pyyaml as django_format

from . import EncryptedAsStored


class Serializer(EncryptedAsStored, django_format.Serializer):
    pass


Deserializer = django_format.Deserializer
