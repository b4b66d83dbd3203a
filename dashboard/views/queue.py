"""The revocation queue: manual tasks, failed (with the connector's error), pending."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.actor import Actor
from dashboard.forms import ManualTaskCompleteForm, apply_validation_error
from dashboard.views._common import paginate, query_without_page, render_page_or_partial
from revocation import selectors as revocation_selectors
from revocation.services import manual_task_complete
from vendors.permissions import REVOKE

# Task cards are taller than table rows: fewer of them to a page.
TASKS_PAGE, ROWS_PAGE = 20, 50
_LISTS = ("tasks", "failed", "pending")


def _task_form(task, data=None) -> ManualTaskCompleteForm:
    # One form per task on the page: ids named after the task, errors shown in its card.
    return ManualTaskCompleteForm(data, auto_id=f"id_task{task.pk}_%s")


def _render_queue(request, *, invalid=None, status: int = 200):
    """The whole queue, or (htmx, every 10 s) its live part: manual tasks, failed and
    pending, each paged on its own (tasks_page, failed_page, pending_page; the poll asks
    for the pages on screen). ``invalid`` is a (task id, bound form) whose errors go in
    that task's card."""
    user = request.user
    task_page = paginate(
        request, revocation_selectors.open_manual_tasks(user=user), TASKS_PAGE, "tasks_page"
    )
    tasks = list(task_page.object_list)
    can_complete = set(
        revocation_selectors.open_manual_tasks(user=user, perm=REVOKE)
        .filter(pk__in=[t.pk for t in tasks])
        .values_list("pk", flat=True)
    )
    failed = revocation_selectors.failed_credentials(user=user)
    pending = revocation_selectors.pending_credentials(user=user)
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
        "task_page": task_page,
        "task_rows": rows,
        "now_at": timezone.now(),
        "pending_page": paginate(request, pending, ROWS_PAGE, "pending_page"),
        "failed_page": paginate(request, failed, ROWS_PAGE, "failed_page"),
        **{f"{name}_query": query_without_page(request, f"{name}_page") for name in _LISTS},
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
    # Back to the pages the person was on (the form's action carries them).
    query = request.GET.urlencode()
    return redirect(reverse("revocation_queue") + (f"?{query}" if query else ""))
