"""Issue 11 item 20: `make demo` honours PORT, email links follow it, and demo emails land in var/emails/."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$* SITE_URL=$SITE_URL EMAIL_BACKEND=$EMAIL_BACKEND" >> "$(dirname "$0")/../../calls.log"
"""


def _serve(tmp_path: Path, **env: str) -> list[str]:
    """Run the real scripts/serve-demo.sh against a stand-in python that records how it was called."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "serve-demo.sh", tmp_path / "scripts" / "serve-demo.sh")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if k not in {"PORT", "SITE_URL", "EMAIL_BACKEND"}}
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "serve-demo.sh")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert (tmp_path / "var" / "emails").is_dir()
    return [result.stdout, *calls]


def test_port_moves_the_server_and_the_email_links(tmp_path):
    out, *calls = _serve(tmp_path, PORT="8123")
    served = next(c for c in calls if c.startswith("manage.py runserver"))
    assert served.startswith("manage.py runserver 127.0.0.1:8123 ")
    assert all("SITE_URL=http://127.0.0.1:8123 " in c for c in calls)
    assert "http://127.0.0.1:8123" in out and "var/emails/" in out
    assert all("EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend" in c for c in calls)


def test_default_port_and_an_explicit_site_url_win(tmp_path):
    _, *calls = _serve(tmp_path, SITE_URL="https://demo.example.org")
    assert any(c.startswith("manage.py runserver 127.0.0.1:8000 ") for c in calls)
    assert all("SITE_URL=https://demo.example.org " in c for c in calls)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_passes_port_to_every_step():
    plan = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    ).stdout.splitlines()
    steps = [line for line in plan if "manage.py" in line or "serve-demo.sh" in line]
    assert len(steps) == 4
    assert all("PORT=8123" in s and "http://127.0.0.1:8123" in s for s in steps)


def test_readme_keeps_the_two_setup_commands_and_says_where_emails_go():
    readme = (ROOT / "README.md").read_text()
    assert "\nmake demo    #" in readme and "\nmake test    #" in readme
    assert "var/emails/" in readme and "PORT=" in readme
    assert Path(settings.EMAIL_FILE_PATH) == ROOT / "var" / "emails"
