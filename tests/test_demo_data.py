"""seed_demo ships with the app: it must run on a production install, without dev packages."""

import os
import random
import subprocess
import sys
from pathlib import Path

from crm.demo_data import ascii_slug, demo_person

BASE_DIR = Path(__file__).resolve().parent.parent

# Runs the commands with factory-boy and Faker unimportable, as on `uv sync --no-dev`.
WITHOUT_DEV_PACKAGES = """
import sys

for name in ("factory", "faker"):
    sys.modules[name] = None  # an import of it now raises ImportError

from django.core.management import execute_from_command_line

execute_from_command_line(["manage.py", "migrate", "--verbosity", "0"])
execute_from_command_line(["manage.py", "seed_demo", "--contacts", "20", "--force"])
"""


def test_seed_demo_runs_without_factory_boy_or_faker(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    result = subprocess.run(  # noqa: S603 (the script above, run by this Python)
        [sys.executable, "-c", WITHOUT_DEV_PACKAGES],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Demo contacts: 20 created, 20 in all." in result.stdout


def test_the_same_seed_draws_the_same_people():
    first = [demo_person(random.Random(7)) for _ in range(3)]
    again = [demo_person(random.Random(7)) for _ in range(3)]
    assert first == again
    assert demo_person(random.Random(7)) != demo_person(random.Random(8))


def test_names_become_ascii_for_emails_and_urls():
    assert ascii_slug("Tomás Müller") == "tomas-muller"
    assert ascii_slug("Blue Harbor Labs, Inc.") == "blue-harbor-labs-inc"
