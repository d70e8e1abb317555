"""gunicorn settings for the web process: `gunicorn --config deploy/gunicorn.conf.py config.wsgi`.

Read from the environment so that the Procfile, the systemd unit and `make serve` run the same
command: WEB_HOST (default 127.0.0.1: a proxy on this machine), PORT (default 8000),
WEB_CONCURRENCY (worker processes, default 2), FORWARDED_ALLOW_IPS (default 127.0.0.1).
Any other gunicorn flag can be given in GUNICORN_CMD_ARGS.
"""

import os

bind = f"{os.environ.get('WEB_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gunicorn trusts X-Forwarded-* headers from these addresses only (the proxy's).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# A request still running this long after SIGTERM is cut; systemd and honcho wait for it.
graceful_timeout = 20
# No control socket: nothing here uses gunicornc, and two stacks on one machine would share its
# default path in $HOME.
control_socket_disable = True
