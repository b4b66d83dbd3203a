"""The revocation queue: pending, failed (with the connector's error), manual tasks."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.forms import ManualTaskCompleteForm
from dashboard.views._common import render_page_or_partial
from revocation import selectors as revocation_selectors
from revocation.services import manual_task_complete
from vendors.permissions import REVOKE


@login_required
def revocation_queue(request):
    user = request.user
    context = {
        "pending": revocation_selectors.pending_credentials(user=user)[:200],
        "pending_count": revocation_selectors.pending_credentials(user=user).count(),
        "failed": revocation_selectors.failed_credentials(user=user)[:200],
        "failed_count": revocation_selectors.failed_credentials(user=user).count(),
    }
    # htmx polls only the pending and failed tables (every 10 s per open page), so the
    # manual tasks are read for the whole page alone.
    if not request.htmx:
        context["tasks"] = revocation_selectors.open_manual_tasks(user=user)[:200]
        context["can_complete_ids"] = set(
            revocation_selectors.open_manual_tasks(user=user, perm=REVOKE).values_list(
                "pk", flat=True
            )[:200]
        )
    return render_page_or_partial(
        request, "dashboard/queue.html", "dashboard/_queue_live.html", context
    )


@login_required
@require_POST
def manual_task_complete_view(request, pk: int):
    task = get_object_or_404(
        revocation_selectors.open_manual_tasks(user=request.user, perm=REVOKE), pk=pk
    )
    form = ManualTaskCompleteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say what you did to revoke the access before completing.")
        return redirect("revocation_queue")
    try:
        manual_task_complete(
            actor=Actor.from_request(request), task=task, note=form.cleaned_data["note"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Manual task for {task.credential.external_id} completed.")
    return redirect("revocation_queue")
