"""EMAIL_URL configures Django's mailer: a file mailer writes alerts to the folder it names."""

import os
import subprocess
import sys

from django.conf import settings

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from django.core.mail import send_mail
call_command("check", deploy=True, fail_level="WARNING")
send_mail("[Relay CRM] Alert: test", "body", None, ["ops@example.com"])
"""


def test_a_filemail_url_writes_each_email_to_its_absolute_folder_and_passes_deploy_checks(
    tmp_path,
):
    folder = tmp_path / "mail"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 64 + "production-like-secret-for-the-check",
        "ALLOWED_HOSTS": "crm.example.com",
        "EMAIL_URL": f"filemail://{folder}",
    }
    env.pop("DEBUG", None)

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SCRIPT],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    [message] = folder.iterdir()
    assert "Subject: [Relay CRM] Alert: test" in message.read_text()
