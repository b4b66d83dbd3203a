"""Pagination: numbered pages for registries, a seq cursor for the audit trail."""

import hashlib
import re

from django.core.cache.backends.locmem import LocMemCache
from django.core.paginator import EmptyPage, Page
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

# As the filters (api.filters.StrictFilterSet): "?page_size=" is not "the default".
EMPTY = "Give a value or leave the parameter out."
NOT_WHOLE = "A whole number is required."
# A whole number as a query string spells one (api.filters.WHOLE_NUMBER; int() also
# takes "1_000", which is no integer literal anywhere else).
WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


# A count of more rows than this is kept for COUNT_SECONDS (see CountKeepingPaginator).
COUNT_EXACT_UP_TO = 1_000
COUNT_SECONDS = 5
# Per process: a count is cheap to make again in each worker, and a read of it must cost
# less than the count it saves (a shared cache would add a round trip to every list).
_counts = LocMemCache(
    "sundown-api-counts", {"TIMEOUT": COUNT_SECONDS, "OPTIONS": {"MAX_ENTRIES": 2_000}}
)
COUNT_DESCRIPTION = (
    "How many results match, all pages together. Exact up to "
    f"{COUNT_EXACT_UP_TO:,}; a larger count may be up to {COUNT_SECONDS} seconds old "
    "(counted once and kept for the next pages, so walking a large list does not count "
    "it again on every page), and `next` follows it. The results are always read when "
    "you ask, and a page is refused (404) only once a fresh count says it is past the end."
)


class CountKeepingPaginator(DjangoPaginator):
    """Django's paginator, counting a large result once every COUNT_SECONDS.

    An integrator walks a large list a page at a time with the same filters, and each
    page counted every matching row again: 100,000 credentials are 5 ms of PostgreSQL
    (an index-only scan of them all) and 0.7 ms of Django building the count, the largest
    part of an unfiltered list's database time (bench/api.py). The count is kept under
    the statement that selects the rows, its parameters included: the agencies the
    caller may read are in it, so callers who see different rows, or the same caller
    with another filter, never share a count.
    """

    _count_kept = False  # this count was read from _counts
    _count_again = False  # a kept count was not enough: count now

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return super().count
        # The rows' identity without their order or columns (cheaper to compile).
        sql, params = rows.order_by().values_list("pk").query.get_compiler(rows.db).as_sql()
        key = hashlib.sha256(repr((rows.db, sql, params)).encode()).hexdigest()
        if not self._count_again:
            kept = _counts.get(key)
            if kept is not None:
                self._count_kept = True
                return kept
        count = rows.count()
        if count > COUNT_EXACT_UP_TO:
            _counts.set(key, count)
        elif self._count_again:
            _counts.delete(key)  # shrunk below the line: exact from now on
        return count

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except EmptyPage:
            if not self._count_kept or int(number) < 1:
                raise
        # A page past a kept count: the list may have grown since, count before refusing.
        self._count_again_now()
        return super().validate_number(number)

    def page(self, number):
        if self.orphans:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # Not cut at the count as Django does (with no orphans the same rows when the
        # count is exact): a kept count may be behind, the rows are read now.
        rows = self.object_list[bottom : bottom + self.per_page]
        if self._count_kept and number > 1 and not rows:  # evaluated once, kept for the page
            # Rows left the list since the count was kept: the usual "no such page".
            self._count_again_now()
            number = super().validate_number(number)
        return Page(rows, number, self)

    def _count_again_now(self) -> None:
        self._count_kept, self._count_again = False, True
        for name in ("count", "num_pages"):
            self.__dict__.pop(name, None)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CountKeepingPaginator

    def get_page_number(self, request, paginator):
        # "?page=" is not "page 1" (the schema says a whole number from 1).
        raw = request.query_params.get(self.page_query_param)
        if raw == "":
            raise ValidationError({"page": [EMPTY]})
        # "?page=1.0" (or DRF's "last") is not what the schema calls a page number.
        if raw is not None and not WHOLE_NUMBER.fullmatch(raw):
            raise ValidationError({"page": [NOT_WHOLE]})
        return super().get_page_number(request, paginator)

    def get_page_size(self, request):
        # DRF quietly falls back to the default for "abc" or -3: a client that asked for
        # something the schema does not allow should hear so (schemathesis found it).
        raw = request.query_params.get(self.page_size_query_param)
        if raw == "":
            raise ValidationError({"page_size": [EMPTY]})
        if raw is not None:
            try:
                value = int(raw)
            except ValueError:
                raise ValidationError({"page_size": [NOT_WHOLE]}) from None
            if value < 1:
                raise ValidationError({"page_size": ["Must be at least 1."]})
        return super().get_page_size(request)

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"] = {
            **response["properties"]["count"],
            "description": COUNT_DESCRIPTION,
        }
        return response

    def get_schema_operation_parameters(self, view):
        # What get_page_size and DRF's page lookup accept, said in the schema: a page
        # and a page size are whole numbers from 1 (page 0 is "not found", size 0 a 400).
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_query_param, self.page_size_query_param):
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; more than "
                    f"{self.max_page_size} returns {self.max_page_size})."
                )
        return parameters


class AfterSeqPagination(pagination.BasePagination):
    """``?after_seq=N&limit=M``: events with seq > N in seq order, no count.

    A SIEM keeps the last seq it stored and asks for what follows; unlike page
    numbers this never skips or repeats an event while new ones are appended,
    and it is one index range scan however long the trail grows.
    """

    default_limit = 100
    max_limit = 1000

    def _int_param(self, request, name, default, minimum, maximum=None):
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if raw == "":
            raise ValidationError({name: [EMPTY]})
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({name: [NOT_WHOLE]}) from None
        if value < minimum:
            raise ValidationError({name: [f"Must be at least {minimum}."]})
        return min(value, maximum) if maximum else value

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.after_seq = self._int_param(request, "after_seq", 0, 0, 2**63 - 1)
        self.limit = self._int_param(request, "limit", self.default_limit, 1, self.max_limit)
        rows = list(queryset.filter(seq__gt=self.after_seq).order_by("seq")[: self.limit + 1])
        self.has_more = len(rows) > self.limit
        self.rows = rows[: self.limit]
        return self.rows

    def get_paginated_response(self, data):
        last = self.rows[-1].seq if self.rows else self.after_seq
        next_url = None
        if self.has_more:
            next_url = replace_query_param(
                self.request.build_absolute_uri(), "after_seq", str(last)
            )
        return Response({"next": next_url, "last_seq": last, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "last_seq", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next batch; null when you are at the head.",
                },
                "last_seq": {
                    "type": "integer",
                    "description": "Pass as after_seq next time to continue from here.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "after_seq",
                "required": False,
                "in": "query",
                "description": "Only events with a seq greater than this (default 0).",
                "schema": {"type": "integer", "minimum": 0},
            },
            {
                "name": "limit",
                "required": False,
                "in": "query",
                "description": f"At most this many events (default {self.default_limit}, "
                f"max {self.max_limit}).",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]
