"""Admin for API tokens: create (the key is shown once) and revoke; never edit."""

from django import forms
from django.contrib import admin, messages

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from audit.actor import Actor


class ApiTokenCreateForm(forms.ModelForm):
    # save_model cannot put the service's ValidationError on the form (it would be a
    # 500), so the choices offered here are only ones the service accepts.
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=36500,
        help_text="Empty: the token does not expire.",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "kind"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user_field = self.fields["user"]
        assert isinstance(user_field, forms.ModelChoiceField) and user_field.queryset is not None
        user_field.queryset = user_field.queryset.filter(is_active=True)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "prefix",
        "name",
        "user",
        "kind",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("kind",)
    search_fields = ("prefix", "name", "user__username")
    actions = ["revoke_tokens"]
    readonly_fields = (
        "user",
        "name",
        "kind",
        "prefix",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
        "last_used_ip",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "kind", "expires_in_days"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # tokens are never edited, only revoked
        token, key = api_token_create(
            actor=Actor.from_request(request),
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            expires_in_days=form.cleaned_data.get("expires_in_days"),
        )
        # The admin redirects to the object it saved; point it at the real row.
        obj.pk = token.pk
        messages.warning(
            request,
            f"Token {token.prefix} created. Copy the key now, it is not shown again: {key}",
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row is the record of what existed

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        actor = Actor.from_request(request)
        count = 0
        for token in queryset:
            if token.revoked_at is None:
                api_token_revoke(actor=actor, token=token)
                count += 1
        messages.success(request, f"{count} token(s) revoked.")
