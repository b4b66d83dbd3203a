"""Access review campaigns and their items over the API.

Campaigns: officers (REVOKE) open, close and reassign; anyone who may VIEW the agency
reads them. Items: a reviewer reads and answers the items assigned to them (holding
VIEW in the agency), officers every item of their agencies; others read them.
"""

from django.contrib.auth import get_user_model
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.filters import IdFilter, StrictFilterSet
from api.serializers import reviews as review_serializers
from api.viewsets import AgencyScopedViewSet
from reviews import selectors as review_selectors
from reviews import services as review_services
from reviews.models import ReviewCampaign, ReviewItem
from vendors.permissions import REVOKE, VIEW

WAITING = (ReviewItem.Decision.PENDING, ReviewItem.Decision.ESCALATED)


# Strict like every other list's filters: the deep fuzz run found ?mine=AAA read as
# "no filter" (issue 10), as ?status= and ?decision= were.
class ReviewCampaignFilter(StrictFilterSet):
    agency = IdFilter(field_name="agency_id")
    status = filters.ChoiceFilter(choices=ReviewCampaign.Status.choices)

    class Meta:
        model = ReviewCampaign
        fields = ["agency", "status"]


class ReviewItemFilter(StrictFilterSet):
    campaign = IdFilter(field_name="campaign_id")
    credential = IdFilter(field_name="credential_id")
    decision = filters.ChoiceFilter(choices=ReviewItem.Decision.choices)
    mine = filters.BooleanFilter(method="filter_mine", help_text="true: assigned to you.")

    class Meta:
        model = ReviewItem
        fields = ["campaign", "credential", "decision", "mine"]

    def filter_mine(self, queryset, name, value):
        user = self.request.user if self.request else None
        return queryset.filter(reviewer=user) if value else queryset.exclude(reviewer=user)


@extend_schema_view(
    list=extend_schema(
        summary="Access review campaigns",
        description="With counts of items per decision (`pending`, `kept`, `revoked`, ...).",
    ),
    retrieve=extend_schema(summary="One review campaign"),
    create=extend_schema(
        summary="Open a review campaign",
        description=(
            "One item per active credential in scope, reviewed by the vendor's sponsor "
            "(unassigned when the vendor has none). `vendor` only for scope `vendor`, "
            "`system` only for scope `system`."
        ),
    ),
)
class ReviewCampaignViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, AgencyScopedViewSet
):
    serializer_class = review_serializers.ReviewCampaignSerializer
    filterset_class = ReviewCampaignFilter
    search_fields = ["name"]
    ordering_fields = ["created_at", "deadline"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "head"]
    write_perm = REVOKE
    action_perms = {"close": REVOKE, "reassign": REVOKE}

    def rows(self, perm):
        return review_selectors.campaign_list(user=self.request.user, perm=perm)

    def create(self, request):
        data = self.validated()
        campaign = review_services.review_campaign_open(
            actor=self.actor(),
            agency=data["agency"],
            name=data["name"],
            scope=data.get("scope", "all"),
            vendor=data.get("vendor"),
            system=data.get("system"),
            deadline=data["deadline"],
            on_no_answer=data.get("on_no_answer", "revoke"),
        )
        return self.respond(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Close a campaign now",
        description="Applies the deadline now: waiting items are revoked or escalated.",
        request=None,
        responses={200: review_serializers.ReviewCampaignSerializer},
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        campaign = review_services.review_campaign_close(
            actor=self.actor(), campaign=self.get_object()
        )
        return self.respond(campaign)

    @extend_schema(
        summary="Reassign waiting items",
        description="Moves one reviewer's waiting items (or the unassigned ones) to another.",
        request=review_serializers.ReviewReassignSerializer,
        responses={200: review_serializers.ReviewReassignedSerializer},
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        campaign = self.get_object()
        data = self.validated(review_serializers.ReviewReassignSerializer)
        users = get_user_model().objects
        reviewer = users.filter(username=data["reviewer"]).first()
        source = data.get("from_reviewer") or ""
        from_user = users.filter(username=source).first() if source else None
        if source and from_user is None:
            raise ValidationError({"from_reviewer": ["No such user."]})
        if campaign.status != ReviewCampaign.Status.OPEN:
            raise ValidationError({"non_field_errors": ["The campaign is closed."]})
        moved = review_services.review_items_reassign(
            actor=self.actor(), campaign=campaign, reviewer=reviewer, from_reviewer=from_user
        )
        return Response({"reassigned": moved})


@extend_schema_view(
    list=extend_schema(
        summary="Review items",
        description=(
            "The items you may see: every item of the agencies where you may view, "
            "`mine=true` for those assigned to you."
        ),
    ),
    retrieve=extend_schema(summary="One review item"),
)
class ReviewItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, AgencyScopedViewSet):
    serializer_class = review_serializers.ReviewItemSerializer
    filterset_class = ReviewItemFilter
    ordering_fields = ["id", "decided_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "head"]
    # Answering needs only VIEW in the agency: whether the item is yours (or you are an
    # officer there) is checked against the item itself.
    action_perms = {"decide": VIEW, "decide_many": VIEW}

    def rows(self, perm):
        return review_selectors.item_list(user=self.request.user, perm=perm)

    @extend_schema(
        summary="Keep or revoke one item",
        description=(
            "Keep needs a reason; revoke revokes the credential on its target. An item "
            "escalated at its campaign's deadline is answered by an officer."
        ),
        request=review_serializers.ReviewDecisionSerializer,
        responses={200: review_serializers.ReviewItemSerializer},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        item = self.get_object()
        data = self.validated(review_serializers.ReviewDecisionSerializer)
        if not review_selectors.decidable_items(user=request.user).filter(pk=item.pk).exists():
            # Audited like every denial: named as the reviewer's (or an officer's) right.
            self.denied_perm, self.denied_object = "reviewer of this item", item
            self.permission_denied(request)
        waiting = item.decision == ReviewItem.Decision.ESCALATED or (
            item.decision == ReviewItem.Decision.PENDING and item.campaign.status == "open"
        )
        if not waiting:
            raise ValidationError({"non_field_errors": ["This item is already answered."]})
        review_services.review_items_decide(
            actor=self.actor(),
            items=[item.pk],
            decision=data["decision"],
            reason=data.get("reason", ""),
        )
        return self.respond(item)

    @extend_schema(
        summary="Keep or revoke many items with one reason",
        operation_id="review_items_decide_many",
        description=(
            "Answers those of `items` that wait for your answer; the others are left "
            "alone. Returns the ids answered."
        ),
        request=review_serializers.ReviewBulkDecisionSerializer,
        responses={200: review_serializers.ReviewDecidedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="decide", url_name="decide-many")
    def decide_many(self, request):
        data = self.validated(review_serializers.ReviewBulkDecisionSerializer)
        mine = list(
            review_selectors.decidable_items(user=request.user)
            .filter(pk__in=data["items"], decision__in=WAITING)
            .values_list("pk", flat=True)
        )
        if not mine:
            seen = (
                review_selectors.item_list(user=request.user)
                .filter(pk__in=data["items"], decision__in=WAITING)
                .first()
            )
            if seen is not None:
                # Items the user can see but not answer: a denial, audited like any.
                self.denied_perm, self.denied_object = "reviewer of these items", seen
                self.permission_denied(request)
            raise ValidationError({"items": ["None of these items waits for your answer."]})
        decided = review_services.review_items_decide(
            actor=self.actor(),
            items=mine,
            decision=data["decision"],
            reason=data.get("reason", ""),
        )
        return Response({"decided": decided})
