"""No Docker engine here: check docker-compose.yml's structure and that its commands are the
ones the end-to-end tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.cli import app
from shared.config import Settings
from shared.priority import REALTIME_PRIORITY
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


def test_autoscaling_manifest_names_the_real_queue_and_metric() -> None:
    from api.metrics import QueueCollector
    from shared.config import Settings

    scaled = yaml.safe_load((ROOT / "deploy" / "keda-scaledobject.yaml").read_text())
    assert scaled["kind"] == "ScaledObject" and scaled["apiVersion"].startswith("keda.sh/")
    from shared.broker import worker_queues

    triggers = {t["type"]: t["metadata"] for t in scaled["spec"]["triggers"]}
    lists = [t["metadata"] for t in scaled["spec"]["triggers"] if t["type"] == "redis"]
    assert sorted(t["listName"] for t in lists) == sorted(worker_queues(Settings().queue))
    assert all(int(t["listLength"]) > 0 for t in lists)
    assert "cvqueue_oldest_queued_seconds" in triggers["prometheus"]["query"]
    import inspect

    assert '"cvqueue_oldest_queued_seconds"' in inspect.getsource(QueueCollector)


def test_prometheus_scrapes_the_api_with_a_key_and_every_worker() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    api = jobs["cvqueue-api"]
    assert api["authorization"]["credentials_file"] and api["metrics_path"] == "/metrics"
    port = int(services["worker"]["environment"]["CVQ_WORKER_METRICS_PORT"])
    assert jobs["cvqueue-worker"]["dns_sd_configs"][0]["port"] == port
    assert any("prometheus.yml" in v for v in services["prometheus"]["volumes"])


def test_the_api_can_take_the_real_time_priority_it_asks_for() -> None:
    """The image runs as a user without privileges: the rtprio limit is what lets it."""
    services = compose()["services"]
    api = services["api"]
    assert Settings.from_env({"CVQ_API_REALTIME": api["environment"]["CVQ_API_REALTIME"]}
                             ).api_realtime
    assert api["ulimits"]["rtprio"] >= REALTIME_PRIORITY
    assert "CVQ_API_REALTIME" not in services["worker"]["environment"]
