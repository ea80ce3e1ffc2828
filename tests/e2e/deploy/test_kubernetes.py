"""``deploy/kubernetes``: every manifest valid against the Kubernetes schemas (offline, strict: an
unknown or misspelt field fails), the GPU overlay rendered and valid too, and the values that
must agree with the service (settings, routes, port, shutdown timeout, threads) agreeing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonpatch
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from service.api.routes.health import router as health_router
from service.settings import Settings
from tests.e2e.deploy.manifests import KUBERNETES, image_environment, setting_names, yaml_documents

# An older Kubernetes still common in managed clusters, and the newest schemas the validator ships.
VERSIONS = ("1.31", kubernetes_validate.utils.latest_version())
MANIFESTS = sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def _by_kind() -> dict[str, dict[str, Any]]:
    docs = [doc for path in MANIFESTS for doc in yaml_documents(path)]
    kinds = {doc["kind"]: doc for doc in docs}
    assert len(kinds) == len(docs), "one object of each kind"
    return kinds


def _deployment() -> dict[str, Any]:
    return _by_kind()["Deployment"]


def _gpu_deployment() -> dict[str, Any]:
    """The base Deployment with the overlay's JSON 6902 patch applied, as kustomize renders it."""
    overlay = yaml.safe_load((KUBERNETES / "gpu" / "kustomization.yaml").read_text())
    (patch,) = overlay["patches"]
    operations = yaml.safe_load((KUBERNETES / "gpu" / patch["path"]).read_text())
    return jsonpatch.apply_patch(_deployment(), operations)


def _container(deployment: dict[str, Any], kind: str = "containers") -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"][kind]
    return container


def _cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    for doc in yaml_documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_gpu_overlay_renders_a_valid_deployment_asking_for_a_gpu(version: str) -> None:
    gpu = _gpu_deployment()
    kubernetes_validate.validate(gpu, version, strict=True)
    resources = _container(gpu)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in _container(_deployment())["resources"]["limits"]
    images = {_container(gpu)["image"], _container(gpu, "initContainers")["image"]}
    assert len(images) == 1 and images != {_container(_deployment())["image"]}


def test_a_schema_violation_is_caught() -> None:
    """The validator really checks, strictly: a misspelt field is refused."""
    broken = _deployment()
    _container(broken)["readinesProbe"] = _container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_the_kustomizations_list_every_file() -> None:
    base = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(base["resources"]) == [p.name for p in MANIFESTS]
    overlay = yaml.safe_load((KUBERNETES / "gpu" / "kustomization.yaml").read_text())
    assert overlay["resources"] == [".."]
    (patch,) = overlay["patches"]
    assert (KUBERNETES / "gpu" / patch["path"]).is_file()
    assert (patch["target"]["kind"], patch["target"]["name"]) == ("Deployment", "vision")


def test_probes_ask_the_service_health_routes_on_its_port() -> None:
    routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
    container = _container(_deployment())
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = container["readinessProbe"]["httpGet"]
    assert {p["path"] for p in probes.values()} <= routes
    assert probes["readinessProbe"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["path"] == "/health/live"
    (port,) = container["ports"]
    assert {p["port"] for p in probes.values()} == {port["name"]}
    assert str(port["containerPort"]) == image_environment("cpu")["VISION_PORT"]
    assert _by_kind()["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]


def test_config_and_secret_hold_real_settings_with_valid_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kinds = _by_kind()
    values = kinds["ConfigMap"]["data"] | kinds["Secret"]["stringData"]
    assert set(values) <= setting_names()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # raises on a value the service would refuse at start-up
    assert str(settings.models_dir) == kinds["ConfigMap"]["data"]["VISION_MODELS_DIR"]
    envs = {
        ref.get("configMapRef", ref.get("secretRef"))["name"]
        for ref in _container(_deployment())["envFrom"]
    }
    assert envs == {kinds["ConfigMap"]["metadata"]["name"], kinds["Secret"]["metadata"]["name"]}


def test_selectors_and_targets_name_the_deployment() -> None:
    kinds = _by_kind()
    deployment = kinds["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert kinds["Service"]["spec"]["selector"] == labels
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == labels
    target = kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_grace_period_covers_pre_stop_and_the_drain() -> None:
    spec = _deployment()["spec"]["template"]["spec"]
    pre_stop = _container(_deployment())["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(_by_kind()["ConfigMap"]["data"]["VISION_GRACEFUL_SHUTDOWN_S"])
    assert spec["terminationGracePeriodSeconds"] > float(pre_stop[1]) + drain


THREAD_SETTINGS = {
    "VISION_INTRA_OP_THREADS",
    "VISION_INFERENCE_CONCURRENCY",
    "VISION_LONE_RUN_THREADS",
}


def test_threads_follow_the_cpu_the_pod_gets_and_the_autoscaler_has_a_request() -> None:
    """The thread plan reads the container's CPU quota; a whole number of cores wastes none of
    it (it rounds down), and no thread setting overrides the plan."""
    resources = _container(_deployment())["resources"]
    assert not THREAD_SETTINGS & set(_by_kind()["ConfigMap"]["data"])
    limit = _cpu_cores(resources["limits"]["cpu"])
    assert limit >= 1 and limit == int(limit)
    assert _cpu_cores(resources["requests"]["cpu"]) > 0  # CPU utilisation is relative to it
    (metric,) = _by_kind()["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_the_init_container_pulls_from_the_mirror_into_the_served_volume() -> None:
    deployment = _deployment()
    init, server = _container(deployment, "initContainers"), _container(deployment)
    command = init["command"] + init["args"]
    assert command[:4] == ["python", "-m", "service", "pull"]
    assert command[command.index("--from") + 1] == "$(VISION_MODELS_SOURCE)"
    models_dir = _by_kind()["ConfigMap"]["data"]["VISION_MODELS_DIR"]
    mounts = {m["name"]: m for m in init["volumeMounts"]}
    served = {m["name"]: m for m in server["volumeMounts"]}
    (volume,) = (name for name, m in mounts.items() if m["mountPath"] == models_dir)
    assert served[volume]["mountPath"] == models_dir and served[volume]["readOnly"] is True
    # The catalog and model configs come from the image's models folder, which stays visible.
    image_models = image_environment("cpu")["VISION_MODELS_DIR"]
    catalog = command[command.index("--catalog") + 1]
    assert Path(catalog).parent == Path(image_models) != Path(models_dir)


def test_pods_run_as_the_images_user() -> None:
    """The image's files (its models folder, /app) belong to that user id."""
    dockerfile = (KUBERNETES.parents[1] / "Dockerfile").read_text()
    uid = re.search(r"useradd .*--uid (\d+)", dockerfile)
    security = _deployment()["spec"]["template"]["spec"]["securityContext"]
    assert uid and security["runAsUser"] == int(uid[1]) and security["runAsNonRoot"] is True
