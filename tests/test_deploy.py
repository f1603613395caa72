"""The deployment files (issue 14) agree with the code: every service runs a command that exists.

Containers cannot be built here (no image registry), so this is what can be proved offline: the
compose file names every production piece, each app service runs a real management command or
the gunicorn settings that exist, and the settings production insists on are in the example env.
"""

from __future__ import annotations

import runpy
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
