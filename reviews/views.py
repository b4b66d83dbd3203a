"""The one page of Sundown that needs no account: a vendor contact's roster attestation.

Everything about the link (signature, hash, single use, expiry) is decided in
reviews.attestation; this view adds what a public page needs: a rate limit per
address (and the sign-in failure budget for forged links), no caching, no referrer to
other sites (the token is in the URL), and only this vendor's people and credentials.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from access.models import Credential
from audit.actor import client_ip
from config.auth_throttle import auth_blocked_for, auth_failure_record
from reviews.attestation import (
    LinkRefused,
    attestation_complete,
    attestation_for_token,
    attestation_link_refused,
    attestation_viewed,
    contact_actor,
)

WINDOW = 600
STATUS = {"invalid": 404, "used": 410, "expired": 410, "busy": 429}


def _over_rate(address: str | None) -> bool:
    key = f"sundown_attest:{address}:{int(time.time() // WINDOW)}"
    cache.add(key, 0, WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, WINDOW * 2)
        count = 1
    return count > settings.SUNDOWN_ATTESTATION_RATE


def _refused(request, reason: str):
    response = render(
        request, "reviews/attest_refused.html", {"reason": reason}, status=STATUS[reason]
    )
    return _private(response)


def _private(response):
    # same-origin, not no-referrer: the token in the URL still never leaves the site,
    # but under no-referrer browsers send "Origin: null" with the form's POST, which
    # Django's CSRF check refuses, so the contact could never submit the attestation.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def attestation_page(request, token: str):
    address = client_ip(request)
    if _over_rate(address) or auth_blocked_for(address):
        return _refused(request, "busy")
    try:
        attestation = attestation_for_token(token[:500])
    except LinkRefused as exc:
        if exc.reason == "invalid":
            auth_failure_record(address)  # guessing links spends the sign-in budget
        attestation_link_refused(
            reason=exc.reason,
            attestation=exc.attestation,
            source_ip=address,
            request_id=getattr(request, "request_id", ""),
        )
        return _refused(request, exc.reason)
    actor = contact_actor(
        attestation, source_ip=address, request_id=getattr(request, "request_id", "")
    )
    roster = attestation.roster
    answers = {
        person["holder"]: request.POST.get(f"person-{i}", "") for i, person in enumerate(roster)
    }
    errors: list[str] = []
    if request.method == "POST":
        try:
            done = attestation_complete(actor=actor, attestation=attestation, answers=answers)
        except ValidationError as exc:
            errors = exc.messages
        else:
            left = [h for h, a in done.answers.items() if a == "left"]
            return _private(
                render(
                    request,
                    "reviews/attest_done.html",
                    {"vendor": attestation.vendor, "left": left},
                )
            )
    else:
        attestation_viewed(attestation=attestation, actor=actor)
    ids = [pk for person in roster for pk in person["credentials"]]
    # Only this vendor's rows, whatever the stored roster says.
    credentials = Credential.objects.filter(pk__in=ids, vendor=attestation.vendor).select_related(
        "system"
    )
    by_id = {c.pk: c for c in credentials}
    people = [
        {
            "holder": person["holder"],
            "credentials": [by_id[pk] for pk in person["credentials"] if pk in by_id],
            "answer": answers[person["holder"]],
        }
        for person in roster
    ]
    context = {
        "attestation": attestation,
        "vendor": attestation.vendor,
        "people": people,
        "errors": errors,
    }
    return _private(render(request, "reviews/attest.html", context, status=400 if errors else 200))
