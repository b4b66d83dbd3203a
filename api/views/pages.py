"""The API's own pages: Swagger UI and the JSON 404 for unknown URLs."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularSwaggerSplitView

from api.exceptions import error_body


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from local (sidecar) assets; the init script is a separate file for CSP."""

    template_name = "api/swagger_ui.html"


@csrf_exempt  # it changes nothing; a CSRF page would break the API's error format
def not_found(request, *args, **kwargs):
    """Unknown URL under /api/ (including ids that are not numbers)."""
    return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
