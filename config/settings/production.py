"""Production settings: DEBUG off; SECRET_KEY, ALLOWED_HOSTS from the environment (docs/deploy.md).

Served behind a TLS-terminating proxy that sets `X-Forwarded-Proto`: HTTPS only, secure cookies,
HSTS, and `manage.py check --deploy` reports nothing.

Served over plain http on this machine only (`make serve` with ALLOWED_HOSTS=127.0.0.1): when
every allowed host is a loopback name, no one else can reach the site, so it does not redirect
to https and its cookies are not marked Secure (a browser would not send them back over http,
and the admin's sign-in would fail). Each of the three can be set in the environment.
"""

import os

os.environ.setdefault("DEBUG", "false")

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, env

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
HTTPS_ONLY = not set(ALLOWED_HOSTS) <= LOOPBACK_HOSTS

# The proxy must set this header on every request (overwriting any the client sent), and gunicorn
# must not be reachable except through it: the header is what tells Django a request came in
# over https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
# Browsers honour HSTS only when it arrives over https, and Django sends it only then.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Needed only when the proxy does not pass the original Host header: https://crm.example.com
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
