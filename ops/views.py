from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import health_report


@never_cache
@require_safe
def health(request):
    """For load balancers and monitors: 200 when every check passes, else 503 naming the
    failing checks. Public: it tells whether the service works, not what it holds."""
    report = health_report()
    return JsonResponse(report, status=503 if report["failing"] else 200)
