"""Per-request log context, one access log line and the HTTP latency histogram."""

import logging
import time

from ops.logs import log_context_reset

logger = logging.getLogger("sundown.request")
_PROBES = {"/healthz", "/readyz", "/metrics"}  # polled every few seconds: not news


class RequestObservabilityMiddleware:
    """Put the request id and actor into every log line of this request; time it.

    Placed after authentication and RequestIdMiddleware so both are known. Logs and
    labels use the matched route pattern, never the raw path: paths hold ids and the
    signed tokens of attestation links.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from ops.metrics import HTTP_LATENCY

        user = getattr(request, "user", None)
        actor = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        log_context_reset(request_id=getattr(request, "request_id", ""), actor=actor)
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        # DRF routers give regex routes ("^api/v1/agencies/$"): keep the readable part.
        route = f"/{match.route.lstrip('^').rstrip('$')}" if match and match.route else "unmatched"
        HTTP_LATENCY.labels(request.method, route, f"{response.status_code // 100}xx").observe(
            elapsed
        )
        # A token user is only known after DRF authenticated inside the view.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user.get_username()
        logger.log(
            logging.DEBUG if route in _PROBES else logging.INFO,
            "%s %s %s %.1f ms",
            request.method,
            route,
            response.status_code,
            elapsed * 1000,
            extra={"actor": actor, "status": response.status_code, "route": route},
        )
        # The context stays until the next request: Django logs 4xx/5xx after the middleware.
        return response
