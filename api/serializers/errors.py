"""The API's one error shape (documented, api.exceptions builds it)."""

from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # A body field named "fields", which shadows Serializer.fields only for type checkers:
    # DRF collects declared fields before the class attribute is read.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field; 'non_field_errors' for the request as a whole.",
    )


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    error = ErrorDetailSerializer()
