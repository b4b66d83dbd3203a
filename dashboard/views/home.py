from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from dashboard.access_control import connector_error_readers
from dashboard.selectors import home_overview
from revocation.selectors import target_outages


@login_required
def home(request):
    """At a glance, per agency the user can see."""
    overviews = home_overview(user=request.user)
    # Open target outages: their revocations wait, so they lead the agency's section.
    outages = target_outages(user=request.user, readers=connector_error_readers(request))
    for overview in overviews:
        overview.outages = [o for o in outages if o.system.agency_id == overview.agency.pk]
    return render(request, "dashboard/home.html", {"overviews": overviews})
