"""Access reviews: a reviewer's queue (bulk keep/revoke a page at a time) and the
officers' pages (campaigns, progress per reviewer, reassignment, close now)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.access_control import held_perms
from dashboard.forms import apply_validation_error, validation_message
from dashboard.review_forms import CampaignForm, ReassignForm, ReviewDecideForm, ScheduleForm
from dashboard.views._common import found, paginate, require_any_perm
from reviews import selectors
from reviews.automation import review_schedule_create
from reviews.models import ReviewItem
from reviews.services import (
    review_campaign_close,
    review_campaign_open,
    review_items_decide,
    review_items_reassign,
)
from vendors.permissions import REVOKE, VIEW, has_agency_perm

QUEUE_PAGE = 50


@login_required
def review_queue(request):
    """The items waiting for this user's answer: 50 a page, one decision for the page
    (``?escalated=1``: an officer's items that no one answered by an escalating deadline)."""
    escalated = request.GET.get("escalated") == "1"
    rows = selectors.reviewer_queue(user=request.user, escalated=escalated)
    page = paginate(request, rows, per_page=QUEUE_PAGE)
    ids = [item.pk for item in page.object_list]
    form = ReviewDecideForm(initial={"page_items": ",".join(map(str, ids))})
    context = {
        "page": page,
        "form": form,
        "escalated": escalated,
        "query": "escalated=1" if escalated else "",
        "can_escalated": REVOKE in held_perms(request),
    }
    return render(request, "reviews/queue.html", context)


@login_required
@require_POST
def review_decide_view(request):
    form = ReviewDecideForm(request.POST)
    params = {}
    if request.POST.get("page", "").isdigit():
        params["page"] = request.POST["page"]
    if request.POST.get("escalated") == "1":
        params["escalated"] = "1"
    back = reverse("review_queue") + (f"?{urlencode(params)}" if params else "")
    if not form.is_valid():
        messages.error(request, "Choose keep or revoke.")
        return redirect(back)
    wanted = form.chosen()
    mine = list(
        selectors.decidable_items(user=request.user)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
    if not mine:
        messages.error(request, "Tick the items to decide (or use the whole page).")
        return redirect(back)
    try:
        done = review_items_decide(
            actor=Actor.from_request(request),
            items=mine,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
        return redirect(back)
    label = "kept" if form.cleaned_data["decision"] == ReviewItem.Decision.KEEP else "revoked"
    messages.success(request, f"{len(done)} item(s) {label}.")
    return redirect(back)


@login_required
def campaign_list(request):
    require_any_perm(request, VIEW)
    page = paginate(request, selectors.campaign_list(user=request.user).order_by("-created_at"))
    return _campaigns_page(request, page)


def _campaigns_page(request, page, form=None, schedule_form=None, status=200):
    can_open = REVOKE in held_perms(request)
    context = {
        "page": page,
        "form": form or (CampaignForm(user=request.user) if can_open else None),
        "schedule_form": schedule_form or (ScheduleForm(user=request.user) if can_open else None),
        "schedules": selectors.schedule_list(user=request.user).order_by("next_run_at")[:50],
    }
    return render(request, "reviews/campaigns.html", context, status=status)


@login_required
@require_POST
def campaign_open_view(request):
    require_any_perm(request, REVOKE)
    form = CampaignForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            campaign = review_campaign_open(
                actor=Actor.from_request(request),
                agency=data["agency"],
                name=data["name"],
                scope=data["scope"],
                vendor=data["vendor"],
                system=data["system"],
                deadline=data["deadline"],
                on_no_answer=data["on_no_answer"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Campaign {campaign.name} opened.")
            return redirect("review_campaign", pk=campaign.pk)
    page = paginate(request, selectors.campaign_list(user=request.user).order_by("-created_at"))
    return _campaigns_page(request, page, form=form, status=400)


@login_required
@require_POST
def schedule_create_view(request):
    require_any_perm(request, REVOKE)
    form = ScheduleForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule = review_schedule_create(
                actor=Actor.from_request(request),
                agency=data["agency"],
                name=data["name"],
                scope=data["scope"],
                vendor=data["vendor"],
                system=data["system"],
                interval_days=data["interval_days"],
                duration_days=data["duration_days"],
                on_no_answer=data["on_no_answer"],
                first_run_at=data["first_run_at"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Schedule {schedule.name} saved.")
            return redirect("review_campaigns")
    page = paginate(request, selectors.campaign_list(user=request.user).order_by("-created_at"))
    return _campaigns_page(request, page, schedule_form=form, status=400)


@login_required
def campaign_detail(request, pk: int):
    campaign = found(selectors.campaign_get(user=request.user, pk=pk))
    items = selectors.item_list(user=request.user).filter(campaign=campaign).order_by("pk")
    decision = request.GET.get("decision", "")
    if decision in selectors.DECISIONS:
        items = items.filter(decision=decision)
    can_manage = campaign.status == "open" and has_agency_perm(request.user, REVOKE, campaign)
    return render(
        request,
        "reviews/campaign.html",
        {
            "campaign": campaign,
            "progress": selectors.campaign_progress(campaign),
            "page": paginate(request, items),
            "query": f"decision={decision}" if decision else "",
            "decision": decision,
            "decisions": ReviewItem.Decision.choices,
            "can_manage": can_manage,
            "reassign_form": ReassignForm() if can_manage else None,
        },
    )


@login_required
@require_POST
def campaign_reassign_view(request, pk: int):
    campaign = found(selectors.campaign_get(user=request.user, pk=pk, perm=REVOKE))
    form = ReassignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Name the person who takes the items over.")
        return redirect("review_campaign", pk=campaign.pk)
    source, from_user, to_user = form.users()
    if source and from_user is None:
        messages.error(request, f"There is no user {source!r}.")
        return redirect("review_campaign", pk=campaign.pk)
    try:
        moved = review_items_reassign(
            actor=Actor.from_request(request),
            campaign=campaign,
            reviewer=to_user,
            from_reviewer=from_user,
        )
    except ValidationError as exc:
        messages.error(request, validation_message(exc))
    else:
        messages.success(request, f"{moved} item(s) reassigned.")
    return redirect("review_campaign", pk=campaign.pk)


@login_required
@require_POST
def campaign_close_view(request, pk: int):
    campaign = found(selectors.campaign_get(user=request.user, pk=pk, perm=REVOKE))
    review_campaign_close(actor=Actor.from_request(request), campaign=campaign)
    messages.success(request, f"Campaign {campaign.name} closed.")
    return redirect("review_campaign", pk=campaign.pk)
