"""The revocation queue: manual tasks, failed (with the connector's error), pending."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.forms import ManualTaskCompleteForm, apply_validation_error
from dashboard.views._common import render_page_or_partial
from revocation import selectors as revocation_selectors
from revocation.services import manual_task_complete
from vendors.permissions import REVOKE


def _task_form(task, data=None) -> ManualTaskCompleteForm:
    # One form per task on the page: ids named after the task, errors shown in its card.
    return ManualTaskCompleteForm(data, auto_id=f"id_task{task.pk}_%s")


def _render_queue(request, *, invalid=None, status: int = 200):
    """The whole queue, or (htmx, every 10 s) its live part: manual tasks, failed and
    pending. ``invalid`` is a (task id, bound form) whose errors go in that task's card."""
    user = request.user
    tasks = list(revocation_selectors.open_manual_tasks(user=user)[:200])
    can_complete = set(
        revocation_selectors.open_manual_tasks(user=user, perm=REVOKE).values_list("pk", flat=True)[
            :200
        ]
    )
    rows = [
        (
            task,
            (invalid[1] if invalid and invalid[0] == task.pk else _task_form(task))
            if task.pk in can_complete
            else None,
        )
        for task in tasks
    ]
    context = {
        "tasks": tasks,
        "task_rows": rows,
        "now_at": timezone.now(),
        "pending": revocation_selectors.pending_credentials(user=user)[:200],
        "pending_count": revocation_selectors.pending_credentials(user=user).count(),
        "failed": revocation_selectors.failed_credentials(user=user)[:200],
        "failed_count": revocation_selectors.failed_credentials(user=user).count(),
    }
    response = render_page_or_partial(
        request, "dashboard/queue.html", "dashboard/_queue_live.html", context
    )
    response.status_code = status
    return response


@login_required
def revocation_queue(request):
    return _render_queue(request)


@login_required
@require_POST
def manual_task_complete_view(request, pk: int):
    task = get_object_or_404(
        revocation_selectors.open_manual_tasks(user=request.user, perm=REVOKE), pk=pk
    )
    form = _task_form(task, request.POST)
    if not form.is_valid():
        return _render_queue(request, invalid=(task.pk, form), status=400)
    try:
        manual_task_complete(
            actor=Actor.from_request(request), task=task, note=form.cleaned_data["note"]
        )
    except ValidationError as exc:
        apply_validation_error(form, exc)
        return _render_queue(request, invalid=(task.pk, form), status=400)
    messages.success(request, f"Manual task for {task.credential.external_id} completed.")
    return redirect("revocation_queue")
