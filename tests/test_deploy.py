"""The deployment files (issue 14) agree with the code: every service runs a command that exists.

Containers cannot be built here (no image registry), so this is what can be proved offline: the
compose file names every production piece, each app service runs a real management command or
the gunicorn settings that exist, and the settings production insists on are in the example env.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import yaml
from django.core.management import get_commands

from config.production import production_problems

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_every_production_piece():
    services = set(compose()["services"])
    assert {"db", "pgbouncer", "redis", "migrate", "web", "worker", "scheduler", "proxy"} <= services


def test_each_app_service_runs_a_command_that_exists():
    commands = get_commands()
    for name in ("migrate", "worker", "scheduler"):
        command = compose()["services"][name]["command"]
        for part in command.split("&&"):
            words = part.replace('sh -c "', "").replace('"', "").split()
            assert words[:2] == ["python", "manage.py"], part
            assert words[2] in commands, f"{name}: manage.py {words[2]} does not exist"
    web = compose()["services"]["web"]["command"].split()
    assert web[:2] == ["gunicorn", "config.wsgi"]
    config = ROOT / web[web.index("-c") + 1]
    settings = runpy.run_path(str(config))
    assert settings["workers"] >= 2 and callable(settings["child_exit"])
    assert f'"{web[web.index("-c") + 1]}"' in (ROOT / "Containerfile").read_text()


def test_the_app_goes_through_pgbouncer_in_transaction_mode():
    services = compose()["services"]
    assert "@pgbouncer:6432/" in services["web"]["environment"]["DATABASE_URL"]
    assert services["web"]["environment"]["DB_TRANSACTION_POOLING"] == "true"
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"


def test_the_example_env_names_every_setting_production_refuses_without():
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "piazza.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    missing = production_problems({"PIAZZA_ENV": "production"})
    for name in ("SECRET_KEY", "AUDIT_HMAC_KEY"):
        assert any(name in problem for problem in missing)
        assert name in example
    assert {"ALLOWED_HOSTS", "SITE_URL", "METRICS_TOKEN", "TRUSTED_PROXY_COUNT"} <= example


def test_the_database_archives_wal_with_pgbackrest():
    command = compose()["services"]["db"]["command"]
    assert "archive_mode=on" in command and "pgbackrest --stanza=piazza archive-push" in command
    assert "[piazza]" in (DEPLOY / "postgres" / "pgbackrest.conf").read_text()  # the stanza archived to


def test_public_uploads_are_served_by_the_proxy_and_private_files_never():
    services = compose()["services"]
    proxy_volumes = services["proxy"]["volumes"]
    assert any(v.startswith("media:/srv/piazza/media") for v in proxy_volumes)
    assert not any(v.startswith("private:") for v in proxy_volumes)
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "handle_path /media/*" in caddy and "root * /srv/piazza/media" in caddy


def _storages_with(**env: str) -> subprocess.CompletedProcess[str]:
    code = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.STORAGES))"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PIAZZA_ENV": "test", **env},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_several_app_servers_share_files_through_an_s3_bucket():
    """Issue 14: FILE_STORAGE=s3 puts both stores in one bucket, private files signed and encrypted."""
    done = _storages_with(FILE_STORAGE="s3", S3_BUCKET="piazza-files", S3_ENDPOINT_URL="https://s3.example.it")
    assert done.returncode == 0, done.stderr
    stores = json.loads(done.stdout)
    assert stores["default"]["OPTIONS"]["location"] == "media"
    assert stores["default"]["OPTIONS"]["querystring_auth"] is False
    private = stores["private"]
    assert private["BACKEND"] == "storages.backends.s3.S3Storage"
    assert private["OPTIONS"]["location"] == "private" and private["OPTIONS"]["querystring_auth"] is True
    assert private["OPTIONS"]["object_parameters"] == {"ServerSideEncryption": "AES256"}
    assert private["OPTIONS"]["endpoint_url"] == "https://s3.example.it"
    missing = _storages_with(FILE_STORAGE="s3")
    assert missing.returncode != 0 and "FILE_STORAGE=s3 needs S3_BUCKET" in missing.stderr
    wrong = _storages_with(FILE_STORAGE="nfs")
    assert wrong.returncode != 0 and "FILE_STORAGE must be 'local' or 's3'" in wrong.stderr
    local = json.loads(_storages_with().stdout)
    assert local["private"]["BACKEND"] == "piazza.core.files.PrivateFileStorage"


class _RecordingGc:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def collect(self) -> int:
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")


def _serve(monkeypatch, every: str, requests: int) -> list[str]:
    monkeypatch.setenv("GC_COLLECT_EVERY", every)
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    recording = _RecordingGc()
    settings["post_request"].__globals__["gc"] = recording
    for _ in range(requests):
        settings["post_request"](None, None, {}, None)
    return recording.calls


def test_gunicorn_workers_freeze_the_app_and_collect_cycles_every_so_many_requests(monkeypatch):
    """ADR 0044: a worker's memory stays flat because request cycles are collected regularly."""
    # After the 1st request the app's objects are frozen; a full collection after the 3rd and 6th.
    assert _serve(monkeypatch, "3", 7) == ["collect", "freeze", "collect", "collect"]
    assert _serve(monkeypatch, "0", 7) == []
    web = compose()["services"]["web"]["command"].split()
    assert web[web.index("-c") + 1] == "deploy/gunicorn.conf.py"  # production runs the hook
