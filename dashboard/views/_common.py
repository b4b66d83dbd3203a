"""Helpers shared by the dashboard views."""

from typing import TypeVar

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from dashboard.access_control import held_perms

PAGE_SIZE = 50
T = TypeVar("T")


def paginate(request, queryset, per_page: int = PAGE_SIZE, param: str = "page"):
    """One page; the count query is the paginator's, rows are fetched for this page only.
    ``param`` names the page number in the query string (two lists on one page)."""
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get(param))


def found(obj: T | None) -> T:
    """The object a selector returned, or 404: absent and not permitted look the same."""
    if obj is None:
        raise Http404
    return obj


def require_any_perm(request, perm: str) -> None:
    """404 when the user holds ``perm`` in no agency: the page would be empty anyway,
    and an absent page tells an outsider nothing about what exists."""
    if perm not in held_perms(request):
        raise Http404


def query_without_page(request, param: str = "page") -> str:
    params = request.GET.copy()
    params.pop(param, None)
    return params.urlencode()


def render_page_or_partial(request, page: str, partial: str, context: dict):
    """The whole page, or only ``partial`` for htmx; caches must keep the two apart."""
    response = render(request, partial if request.htmx else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
