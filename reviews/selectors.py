"""Reads of access reviews for the API, the dashboard, home and evidence packs.

Functions that take a ``user`` go through ``restrict``. A reviewer sees and decides
the items assigned to them (in agencies where they hold VIEW); security officers
(REVOKE) see and decide every item of their agencies' campaigns.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from reviews.models import ReviewCampaign, ReviewItem, ReviewSchedule
from vendors.permissions import REVOKE, VIEW, agencies_for, restrict

DECISIONS = [code for code, _ in ReviewItem.Decision.choices]


def _progress_annotations() -> dict:
    return {f"n_{code}": Count("items", filter=Q(items__decision=code)) for code in DECISIONS} | {
        "n_items": Count("items")
    }


def campaign_list(*, user, perm: str = VIEW) -> QuerySet[ReviewCampaign]:
    """Campaigns of the agencies where ``user`` holds ``perm``, with counts per decision
    (``n_pending``, ``n_keep``, ..., ``n_items``)."""
    return (
        restrict(ReviewCampaign.objects.all(), user, perm)
        .select_related("agency", "vendor", "system")
        .annotate(**_progress_annotations())
    )


def campaign_get(*, user, pk: int, perm: str = VIEW) -> ReviewCampaign | None:
    return campaign_list(user=user, perm=perm).filter(pk=pk).first()


def schedule_list(*, user, perm: str = VIEW) -> QuerySet[ReviewSchedule]:
    return restrict(ReviewSchedule.objects.all(), user, perm).select_related(
        "agency", "vendor", "system"
    )


def item_list(*, user, perm: str = VIEW) -> QuerySet[ReviewItem]:
    """Items a user may see: their own (in agencies where they hold VIEW), and every
    item of the agencies where they hold ``perm`` when that is REVOKE (officers)."""
    rows = ReviewItem.objects.select_related(
        "campaign", "credential__system", "credential__vendor", "reviewer"
    )
    if not getattr(user, "is_authenticated", False):
        return rows.none()  # (the schema generator asks with an anonymous user)
    own = Q(reviewer=user, campaign__agency__in=agencies_for(user, VIEW).values("pk"))
    officer = Q(campaign__agency__in=agencies_for(user, REVOKE).values("pk"))
    if perm == VIEW:
        return rows.filter(own | Q(campaign__agency__in=agencies_for(user, VIEW).values("pk")))
    return rows.filter(own | officer)


def decidable_items(*, user) -> QuerySet[ReviewItem]:
    """Items ``user`` may answer: their own, or any of an agency where they are an officer."""
    return item_list(user=user, perm=REVOKE)


def reviewer_queue(
    *, user, campaign: int | None = None, escalated: bool = False
) -> QuerySet[ReviewItem]:
    """The items waiting for ``user``'s answer in open campaigns, soonest deadline first;
    with ``escalated``, the items nobody answered by a deadline that escalates, in the
    agencies where ``user`` is an officer.

    Built for a page of 50 out of thousands: one indexed query for the page (rows and
    their credential, system and vendor joined in) and one count.
    """
    if escalated:
        waiting = ReviewItem.objects.filter(
            decision=ReviewItem.Decision.ESCALATED,
            campaign__agency__in=agencies_for(user, REVOKE).values("pk"),
        )
    else:
        waiting = ReviewItem.objects.filter(
            reviewer=user,
            decision=ReviewItem.Decision.PENDING,
            campaign__status=ReviewCampaign.Status.OPEN,
            campaign__agency__in=agencies_for(user, VIEW).values("pk"),
        )
    rows = waiting.select_related("campaign", "credential__system", "credential__vendor").order_by(
        "campaign__deadline", "campaign_id", "pk"
    )
    if campaign is not None:
        rows = rows.filter(campaign_id=campaign)
    return rows


def campaign_progress(campaign: ReviewCampaign) -> list[dict]:
    """Per reviewer (None: unassigned): items and how many of each decision."""
    # Any: the stubs type a values() query with annotations as TypedDicts list() refuses.
    rows: Any = (
        ReviewItem.objects.filter(campaign=campaign)
        .values("reviewer_id", "reviewer__username")
        .annotate(
            total=Count("pk"),
            **{code: Count("pk", filter=Q(decision=code)) for code in DECISIONS},
        )
        .order_by("reviewer__username")
    )
    return list(rows)


def evidence_reviews(scope) -> list[dict]:
    """The evidence pack's reviews.json: every review of the pack's credentials."""
    ids = [c.pk for c in scope.credentials]
    rows = (
        ReviewItem.objects.filter(credential_id__in=ids)
        .select_related("campaign", "reviewer", "credential")
        .order_by("campaign__created_at", "campaign_id", "credential_id")
    )
    return [
        {
            "campaign": {
                "id": item.campaign_id,
                "name": item.campaign.name,
                "scope": item.campaign.scope,
                "opened_at": item.campaign.created_at,
                "deadline": item.campaign.deadline,
                "on_no_answer": item.campaign.on_no_answer,
                "status_now": item.campaign.status,
            },
            "credential": item.credential_id,
            "external_id": item.credential.external_id,
            "reviewer": item.reviewer.get_username() if item.reviewer else None,
            "decision": item.decision,
            "reason": item.reason,
            "decided_at": item.decided_at,
            "decided_by": item.decided_by,
        }
        for item in rows
    ]
