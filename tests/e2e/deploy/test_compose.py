"""``deploy/compose.yaml`` and ``deploy/compose.scaled.yaml``, checked structurally (no Docker
engine on CI): every volume, dependency and mounted file exists, every ``VISION_*`` variable is
a real setting with a value the service accepts, and the replicas, PostgreSQL and nginx point at
each other by the names compose gives them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.settings import Settings
from tests.e2e.deploy.manifests import (
    DEPLOY,
    NGINX,
    image_environment,
    interpolate,
    setting_names,
    yaml_documents,
)

COMPOSE_FILES = (DEPLOY / "compose.yaml", DEPLOY / "compose.scaled.yaml")
# What a user exports before `docker compose up` (the files refuse to start without them).
USER_VARIABLES = {"VISION_API_KEY": "0123abcd" * 6, "POSTGRES_PASSWORD": "cafe" * 12}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _compose(path: Path) -> dict[str, Any]:
    (doc,) = yaml_documents(path)
    return doc


def _scaled() -> dict[str, Any]:
    return _compose(DEPLOY / "compose.scaled.yaml")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(str(v), USER_VARIABLES) for k, v in service["environment"].items()}


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return float(match[1])


def _project_image(service: dict[str, Any]) -> bool:
    return service.get("build", {}).get("context") == ".."


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_volume_dependency_and_mounted_path_exists(path: Path) -> None:
    compose = _compose(path)
    services = compose["services"]
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (path.parent / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} undeclared"
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services and how["condition"] in CONDITIONS, f"{name} -> {needed}"
            if how["condition"] == "service_healthy":
                # Its own healthcheck, or the project image's HEALTHCHECK (Dockerfile).
                assert "healthcheck" in services[needed] or _project_image(services[needed])


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_service_environment_is_real_settings_with_valid_values(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replicas = [s for s in _compose(path)["services"].values() if "environment" in s]
    replicas = [s for s in replicas if _project_image(s)]
    assert replicas
    for service in replicas:
        environment = _environment(service)
        assert set(environment) <= setting_names()
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        Settings()  # raises on a value the service would refuse at start-up


def test_the_project_image_has_the_readiness_healthcheck() -> None:
    """`service_healthy` on the replicas relies on the image's HEALTHCHECK: it must be there."""
    dockerfile = (DEPLOY.parent / "Dockerfile").read_text()
    cpu_stage = dockerfile.split("AS cpu", 1)[1].split("\nFROM ", 1)[0]
    assert "HEALTHCHECK" in cpu_stage and "/health/ready" in cpu_stage


def test_replicas_scale_behind_nginx_with_read_only_models() -> None:
    services = _scaled()["services"]
    vision = services["vision"]
    assert vision["deploy"]["replicas"] >= 2
    assert "ports" not in vision  # replicas publish nothing: two cannot share a host port
    models_dir = image_environment("cpu")["VISION_MODELS_DIR"]
    assert f"models:{models_dir}:ro" in vision["volumes"]
    assert [name for name, s in services.items() if "ports" in s] == ["nginx"]


def test_the_models_job_fills_the_volume_before_the_replicas_start() -> None:
    services = _scaled()["services"]
    job = services["models"]
    assert job["command"] == ["python", "-m", "service", "pull"]
    assert f"models:{image_environment('cpu')['VISION_MODELS_DIR']}" in job["volumes"]
    assert job["image"] == services["vision"]["image"]
    condition = services["vision"]["depends_on"]["models"]["condition"]
    assert condition == "service_completed_successfully"


def test_the_gallery_url_names_the_postgres_service_and_its_database() -> None:
    services = _scaled()["services"]
    url = urlsplit(_environment(services["vision"])["VISION_GALLERY_URL"])
    postgres = {
        k: interpolate(v, USER_VARIABLES) for k, v in services["postgres"]["environment"].items()
    }
    assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path == "/" + postgres["POSTGRES_DB"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert any(m.endswith(":/var/lib/postgresql/data") for m in services["postgres"]["volumes"])


def test_a_stopping_replica_gets_longer_than_its_drain() -> None:
    vision = _scaled()["services"]["vision"]
    drain = float(_environment(vision)["VISION_GRACEFUL_SHUTDOWN_S"])
    assert _seconds(vision["stop_grace_period"]) > drain


def test_threads_follow_the_replica_cpu_limit() -> None:
    """The thread plan reads the replica's CPU quota (``--cpus``): no thread setting overrides
    it, and the limit is the cores asked for."""
    vision = _scaled()["services"]["vision"]
    settings = {
        "VISION_INTRA_OP_THREADS",
        "VISION_INFERENCE_CONCURRENCY",
        "VISION_LONE_RUN_THREADS",
    }
    assert not settings & set(vision["environment"])
    for cpus in ("1", "3"):
        variables = USER_VARIABLES | {"VISION_REPLICA_CPUS": cpus}
        limit = interpolate(str(vision["deploy"]["resources"]["limits"]["cpus"]), variables)
        assert limit == cpus


def test_nginx_runs_the_deploy_config_and_proxies_to_the_replicas() -> None:
    nginx = _scaled()["services"]["nginx"]
    (mount,) = nginx["volumes"]
    source, target, _ = mount.split(":")
    assert (DEPLOY / source).resolve() == NGINX
    config = nginx["command"][nginx["command"].index("-c") + 1]
    assert Path(config).parent == Path(target) and (NGINX / Path(config).name).is_file()
    (published,) = nginx["ports"]
    listen = re.search(r"^\s*listen (\d+);", (NGINX / "proxy.conf").read_text(), re.MULTILINE)
    assert listen and published.rsplit(":", 1)[1] == listen[1]
    server = re.search(
        r"^\s*server (\S+):(\d+) ", (NGINX / "upstream.conf").read_text(), re.MULTILINE
    )
    assert server and server[1] == "vision" and server[2] == image_environment("cpu")["VISION_PORT"]
