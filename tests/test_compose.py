"""No Docker engine here: check docker-compose.yml's structure and that its commands are the
ones the end-to-end tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.cli import app
from shared.stack import API_COMMAND, SWEEPER_COMMAND, WORKER_COMMAND

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_and_health_checks() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "api", "worker"} <= set(services)
    for name in ("redis", "postgres", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    redis_cmd = services["redis"]["command"]
    assert "--appendonly" in redis_cmd and redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    assert "noeviction" in redis_cmd
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["CVQ_DATABASE_URL"].startswith("postgresql")
        assert env["CVQ_BROKER_URL"].startswith("redis://redis:")
        assert any(v.startswith("artifacts:") for v in services[name]["volumes"])
        assert set(services[name]["depends_on"]) == {"redis", "postgres", "migrate"}
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
    assert "ports" not in services["worker"]  # scalable: --scale worker=N


def test_migrations_run_before_the_services() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["cvqueue", "db", "upgrade"]
    assert services["migrate"]["environment"]["CVQ_ENV"] == "production"
    assert "migrate" in services["sweeper"]["depends_on"]


def test_commands_are_the_ones_the_tests_run() -> None:
    services = compose()["services"]
    api_cmd, worker_cmd = services["api"]["command"], services["worker"]["command"]
    assert api_cmd[0] == worker_cmd[0] == "cvqueue"
    assert tuple(api_cmd[1:2]) == API_COMMAND and tuple(worker_cmd[1:]) == WORKER_COMMAND
    assert tuple(services["sweeper"]["command"][1:]) == SWEEPER_COMMAND
    registered = {c.name or (c.callback.__name__ if c.callback else "") for c in
                  app.registered_commands}
    assert {API_COMMAND[0], WORKER_COMMAND[0], SWEEPER_COMMAND[0], "train"} <= registered
    flags = api_cmd[2:]
    assert "--host" in flags and "--port" in flags


def test_dockerfile_pins_torch_and_installs_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "torch==2.13.0" in text and "pip install ." in text
