"""Middleware of the whole site (not of one app)."""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Every page, API answer and CSV export is agency data: no browser or proxy keeps it.

    Sits below WhiteNoise, so static files (which WhiteNoise answers itself) stay cacheable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)  # no-store, no-cache, must-revalidate, private
        return response
