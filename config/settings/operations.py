"""Operations settings (ops): mail for alerts, the scheduler's jobs, health and alert limits.

Imported by base.py; see docs/operations.md. Environment variables: EMAIL_URL,
DEFAULT_FROM_EMAIL, ALERT_EMAILS, SCHEDULE_<JOB> (one per job of OPS_SCHEDULES),
STALE_IMPORT_MINUTES, TASK_RESULT_RETENTION_DAYS, QUEUE_LAG_SECONDS, ALERT_QUEUE_LAG_SECONDS,
ALERT_FAILED_PUSHES, ALERT_FAILED_SHARE, CONTACT_EXPORTS_ROOT, CONTACT_EXPORT_KEEP_HOURS.
"""

import os
from urllib.parse import urlsplit

import environ

__all__ = [
    "ALERT_EMAILS",
    "CONTACT_EXPORTS_ROOT",
    "CONTACT_EXPORT_KEEP_HOURS",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_URL",
    "MAILERS",
    "OPS",
    "OPS_SCHEDULES",
    "SERVER_EMAIL",
    "SILENCED_SYSTEM_CHECKS",
]

env = environ.Env()  # base.py has read the project's .env into the environment already
DEBUG = env.bool("DEBUG", default=False)
SILENCED_SYSTEM_CHECKS: list[str] = []

# Large contact exports (crm.bulk_export): the private folder the worker writes them to
# (STORAGES["exports"], never served by URL), and how long a file is kept.
CONTACT_EXPORTS_ROOT = env.str(
    "CONTACT_EXPORTS_ROOT",
    default=os.path.join(os.path.dirname(__file__), "..", "..", "var", "exports"),
)
CONTACT_EXPORT_KEEP_HOURS = env.int("CONTACT_EXPORT_KEEP_HOURS", default=24)

# Mail (alerts) from one URL: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://),
# consolemail:// (printed by the process that sends), filemail:///absolute/dir (one file a
# message). Read with django-environ, given to Django as its MAILERS setting. Without it:
# printed in development, the local SMTP server (Django's own default) otherwise.
EMAIL_URL = env.str("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
email_config = env.email_url_config(EMAIL_URL)
MAILERS = {"default": {"BACKEND": email_config["EMAIL_BACKEND"]}}
if MAILERS["default"]["BACKEND"].endswith(".smtp.EmailBackend"):
    smtp_options = {
        "host": "EMAIL_HOST",
        "port": "EMAIL_PORT",
        "username": "EMAIL_HOST_USER",
        "password": "EMAIL_HOST_PASSWORD",
        "use_tls": "EMAIL_USE_TLS",
        "use_ssl": "EMAIL_USE_SSL",
    }
    MAILERS["default"]["OPTIONS"] = {
        "timeout": 10,
        **{
            option: email_config[name]
            for option, name in smtp_options.items()
            if email_config.get(name) is not None
        },
    }
elif MAILERS["default"]["BACKEND"].endswith(".filebased.EmailBackend"):
    # The URL's path as written (django-environ drops its leading slash).
    MAILERS["default"]["OPTIONS"] = {"file_path": "".join(urlsplit(EMAIL_URL)[1:3])}
if "EMAIL_URL" in os.environ and not MAILERS["default"]["BACKEND"].endswith(".smtp.EmailBackend"):
    # `check --deploy` flags a console or file mailer as a development leftover; one named
    # in EMAIL_URL was chosen (a pickup folder, a log collector reading the output).
    SILENCED_SYSTEM_CHECKS = ["mail.E001"]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Relay CRM <relay-crm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Who gets the alert emails (comma-separated). Empty: alerts show on the admin index only.
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])

# When `manage.py scheduler` runs each job, crontab syntax (minute hour day month weekday, in
# TIME_ZONE; weekdays as names). Each can be set by SCHEDULE_<JOB>, e.g. SCHEDULE_RETRY_SWEEP.
OPS_SCHEDULES = {
    job: env.str(f"SCHEDULE_{job.upper()}", default=default)
    for job, default in {
        # Queue again the pending pushes whose task was lost (push_contacts --pending).
        "retry_sweep": "* * * * *",
        # Fail the contact imports whose worker died (no progress for STALE_IMPORT_MINUTES).
        "stale_imports": "* * * * *",
        # Raise and clear alerts, and email them. Runs in the scheduler itself, not through
        # the queue, so a queue that no worker drains is still reported.
        "alerts": "* * * * *",
        # Delete push attempts older than PUSH_ATTEMPT_RETENTION_DAYS (push_contacts --prune).
        "push_attempts_prune": "17 3 * * *",
        # Delete Idempotency-Key records older than IDEMPOTENCY_KEY_RETENTION_HOURS.
        "idempotency_records_prune": "27 * * * *",
        # Delete finished task results older than TASK_RESULT_RETENTION_DAYS.
        "task_results_prune": "37 3 * * *",
    }.items()
}

OPS = {
    # The scheduler queues a heartbeat task this often; the worker that runs it is "seen".
    "HEARTBEAT_SECONDS": 30,
    # /health/ fails "worker" when no worker has been seen for this long.
    "WORKER_SEEN_SECONDS": 60,
    # /health/ fails "queue_lag" when the oldest task due has waited longer than this.
    "QUEUE_LAG_SECONDS": env.int("QUEUE_LAG_SECONDS", default=300),
    # A running import whose progress has not moved for this long is marked failed.
    "STALE_IMPORT_MINUTES": env.int("STALE_IMPORT_MINUTES", default=10),
    # prune_db_task_results --min-age-days.
    "TASK_RESULT_RETENTION_DAYS": env.int("TASK_RESULT_RETENTION_DAYS", default=7),
    # Alert: a connection with this many failed pushes in the last hour...
    "ALERT_FAILED_PUSHES": env.int("ALERT_FAILED_PUSHES", default=20),
    # ...or with at least this share of its pushes failed, once it made ALERT_MIN_PUSHES.
    "ALERT_FAILED_SHARE": env.float("ALERT_FAILED_SHARE", default=0.5),
    "ALERT_MIN_PUSHES": 10,
    # Alert: the oldest task due has waited longer than this.
    "ALERT_QUEUE_LAG_SECONDS": env.int("ALERT_QUEUE_LAG_SECONDS", default=600),
    # At most one alert email per condition in this many seconds.
    "ALERT_EMAIL_INTERVAL_SECONDS": 3600,
}
