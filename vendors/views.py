from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from vendors.selectors import vendor_list


@login_required
def home(request):
    """Vendors the user may see, with their contracts (a minimal first dashboard)."""
    vendors = vendor_list(user=request.user)
    return render(request, "vendors/home.html", {"vendors": vendors})
