"""Django's xml_serializer serializer, with encrypted fields written as ciphertext (see the package)."""

from django.core.serializers import xml_serializer as django_format

from . import EncryptedAsStored


class Serializer(EncryptedAsStored, django_format.Serializer):
    pass


Deserializer = django_format.Deserializer
