"""Forms of the review pages. They only parse input; reviews.services decides."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from access.models import System
from dashboard.forms import USWDSMixin
from reviews.models import OnNoAnswer, ReviewItem, Scope
from vendors import permissions
from vendors.models import Agency, Vendor


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"


class ReviewDecideForm(USWDSMixin, forms.Form):
    """One action for a page of the queue: the ticked items, or every item on the page."""

    page_items = forms.CharField(required=False, widget=forms.HiddenInput)
    all_on_page = forms.BooleanField(required=False, widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        choices=[(ReviewItem.Decision.KEEP, "Keep"), (ReviewItem.Decision.REVOKE, "Revoke")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        label="Reason (required to keep; kept in the audit trail)",
    )

    def chosen(self) -> list[int]:
        """The ids asked for (any number parses; the selector decides which the user may
        answer), at most a page's worth."""
        if self.cleaned_data.get("all_on_page"):
            raw = (self.cleaned_data.get("page_items") or "").split(",")
        else:
            data: Any = self.data  # a QueryDict: ticked boxes share one name
            raw = data.getlist("items")
        return [int(v) for v in raw if v.strip().isdigit() and len(v.strip()) < 19][:500]


class CampaignForm(USWDSMixin, forms.Form):
    ZONED = ("deadline", "first_run_at")
    agency = forms.ModelChoiceField(queryset=Agency.objects.none())
    name = forms.CharField(max_length=200)
    scope = forms.ChoiceField(choices=Scope.choices)
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.none(), required=False, help_text="For a vendor campaign."
    )
    system = forms.ModelChoiceField(
        queryset=System.objects.none(), required=False, help_text="For a system campaign."
    )
    deadline = forms.DateTimeField(widget=DateTimeInput)
    on_no_answer = forms.ChoiceField(
        choices=OnNoAnswer.choices, label="At the deadline, unanswered items are"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        perm = permissions.REVOKE
        agencies = permissions.agencies_for(user, perm)
        self.fields["agency"].queryset = agencies
        # Times are typed as the agency's wall clock, as every page shows them.
        zones = sorted(set(agencies.values_list("time_zone", flat=True)[:50]))
        zone = f"Time in {zones[0]}." if len(zones) == 1 else "Time in the agency's zone."
        for name in self.ZONED:
            if name in self.fields:
                extra = self.fields[name].help_text
                self.fields[name].help_text = f"{extra} {zone}".strip() if extra else zone
        self.fields["vendor"].queryset = permissions.restrict(
            Vendor.objects.all(), user, perm
        ).order_by("name")
        self.fields["system"].queryset = permissions.restrict(
            System.objects.all(), user, perm
        ).order_by("name")

    def clean(self):
        data = super().clean() or {}
        agency = data.get("agency")
        for name in self.ZONED:
            value = data.get(name)
            if agency is not None and value is not None:
                # Django read the wall time in the server's zone (UTC): it is the agency's.
                data[name] = timezone.make_aware(value.replace(tzinfo=None), agency.tz)
        return data


class ReassignForm(USWDSMixin, forms.Form):
    from_reviewer = forms.CharField(
        max_length=150, required=False, label="Items of (user name; empty: unassigned items)"
    )
    to_reviewer = forms.CharField(max_length=150, label="Give them to (user name)")

    def users(self):
        User = get_user_model()
        data = self.cleaned_data
        source = data.get("from_reviewer") or ""
        from_user = User.objects.filter(username=source).first() if source else None
        to_user = User.objects.filter(username=data["to_reviewer"]).first()
        return source, from_user, to_user


class ScheduleForm(CampaignForm):
    """A recurring campaign: the same fields, an interval and reviewers' time for a deadline."""

    interval_days = forms.IntegerField(
        min_value=1, label="Every (days)", help_text="90: quarterly."
    )
    duration_days = forms.IntegerField(min_value=1, initial=14, label="Reviewers have (days)")
    first_run_at = forms.DateTimeField(
        widget=DateTimeInput, required=False, help_text="Empty: now."
    )

    def __init__(self, *args, user, **kwargs):
        # Prefixed: it shares the campaigns page (and its field ids) with CampaignForm.
        kwargs.setdefault("prefix", "schedule")
        super().__init__(*args, user=user, **kwargs)
        del self.fields["deadline"]
