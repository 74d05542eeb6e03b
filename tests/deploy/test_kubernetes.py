"""The Kubernetes manifests under deploy/kubernetes/: every document is valid against the
Kubernetes JSON schemas (offline, strict: an unknown field fails), and the service's
Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler say what the operations
plan asks (probes, non-root, requests and limits, 2..4 instances at 80 % CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
VERSION = "1.30.0"  # the oldest Kubernetes the manifests must run on; schemas ship in the package


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


def by_kind(kind: str, name: str = "ragops") -> dict[str, Any]:
    (doc,) = [d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize(("where", "doc"), documents(), ids=[w for w, _ in documents()])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(
    where: str, doc: dict[str, Any]
) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    """The offline validation is real: a misspelt field and a wrong type are caught."""
    deployment = by_kind("Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
    wrong = yaml.safe_load(yaml.safe_dump(deployment))
    wrong["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, VERSION, strict=True)


def test_the_expected_objects_are_there() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in documents()}
    assert {
        ("Deployment", "ragops"),
        ("Service", "ragops"),
        ("PodDisruptionBudget", "ragops"),
        ("HorizontalPodAutoscaler", "ragops"),
        ("Job", "ragops-migrate"),
        ("CronJob", "ragops-db-archive"),
        ("CronJob", "ragops-db-maintain"),
    } <= kinds


def test_deployment_probes_resources_and_user() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["RAGOPS_ENVIRONMENT"] == "production" and env["RAGOPS_AUTO_MIGRATE"] == "false"
    # a rolling update never goes under the running count, and SIGTERM has time to drain
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    drain = float(env["RAGOPS_DRAIN_SECONDS"]) + float(env["RAGOPS_SHUTDOWN_TIMEOUT_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] >= drain


def test_service_and_disruption_budget_select_the_pods() -> None:
    labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1


def test_autoscaler_follows_the_operations_plan() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["spec"]
    target = hpa["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ragops"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
