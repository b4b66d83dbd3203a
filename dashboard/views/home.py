from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from dashboard.selectors import home_overview


@login_required
def home(request):
    """At a glance, per agency the user can see."""
    return render(request, "dashboard/home.html", {"overviews": home_overview(user=request.user)})
