"""render.yaml, the Render Blueprint, checked against the fields Render's Blueprint reference
documents (docs: render.com/docs/blueprint-spec): root keys, service types and their fields,
env var forms. The plan's requirements: a web service with 2 instances, health check on
/readyz, migrations as the pre-deploy command, secrets from an environment group, Key Value
(Redis) for the cache, and cron jobs for database maintenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

ROOT_KEYS = {
    "services", "databases", "envVarGroups", "projects", "ungrouped", "previews", "version",
}  # fmt: skip
SERVICE_TYPES = {"web", "pserv", "worker", "cron", "keyvalue", "redis"}
COMMON = {"type", "name", "plan", "region", "envVars", "ipAllowList"}
BUILT = {
    "runtime", "repo", "branch", "rootDir", "buildCommand", "startCommand", "dockerfilePath",
    "dockerContext", "dockerCommand", "registryCredential", "image", "buildFilter",
    "autoDeploy", "autoDeployTrigger", "preDeployCommand",
}  # fmt: skip
FIELDS = {
    "web": COMMON | BUILT | {
        "numInstances", "scaling", "healthCheckPath", "domains", "disk", "previews",
        "maxShutdownDelaySeconds", "pullRequestPreviewsEnabled", "initialDeployHook",
    },
    "cron": COMMON | BUILT | {"schedule"},
    "keyvalue": COMMON | {"maxmemoryPolicy"},
}  # fmt: skip
RUNTIMES = {"docker", "image", "python", "node", "ruby", "go", "rust", "elixir", "static"}
ENV_FORMS = ({"key", "value"}, {"key", "generateValue"}, {"key", "sync"},
             {"key", "fromDatabase"}, {"key", "fromService"}, {"fromGroup"})  # fmt: skip
MAXMEMORY = {"allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random",
             "volatile-random", "volatile-ttl", "noeviction"}  # fmt: skip


def blueprint() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "render.yaml").read_text())
    return data


def service(name: str) -> dict[str, Any]:
    (found,) = [s for s in blueprint()["services"] if s["name"] == name]
    return found


def test_only_documented_fields() -> None:
    data = blueprint()
    assert set(data) <= ROOT_KEYS
    names = [s["name"] for s in data["services"]]
    assert len(names) == len(set(names))
    groups = {group["name"] for group in data["envVarGroups"]}
    for item in data["services"]:
        assert item["type"] in SERVICE_TYPES, item["name"]
        assert set(item) <= FIELDS[item["type"]], (item["name"], set(item) - FIELDS[item["type"]])
        if "runtime" in item:
            assert item["runtime"] in RUNTIMES
        for env in item.get("envVars", []):
            assert set(env) in ENV_FORMS, (item["name"], env)
            if "fromGroup" in env:
                assert env["fromGroup"] in groups
            if "fromService" in env:
                ref = env["fromService"]
                assert ref["name"] in names and ref["type"] == service(ref["name"])["type"]
                assert set(ref) <= {"type", "name", "property", "envVarKey"}
    for group in data["envVarGroups"]:
        for env in group["envVars"]:
            # groups cannot reference services or databases: literal, generated or prompted
            assert set(env) in ({"key", "value"}, {"key", "generateValue"}, {"key", "sync"})


def test_web_service_runs_two_instances_behind_readyz() -> None:
    web = service("ragops")
    assert web["type"] == "web" and web["runtime"] == "docker"
    assert (ROOT / web["dockerfilePath"]).is_file()
    assert web["numInstances"] == 2
    assert web["healthCheckPath"] == "/readyz"
    assert web["preDeployCommand"] == "ragops db upgrade"
    assert web["maxShutdownDelaySeconds"] <= 300


def test_secrets_come_from_an_environment_group_and_are_never_written_here() -> None:
    (secrets,) = [g for g in blueprint()["envVarGroups"] if g["name"] == "ragops-secrets"]
    keys = {env["key"] for env in secrets["envVars"]}
    assert {"RAGOPS_DATABASE_URL", "RAGOPS_LLM_API_KEY", "RAGOPS_METRICS_TOKEN"} <= keys
    # the 2 instances accept each other's acknowledge links only with one shared secret
    assert "RAGOPS_INCIDENT_LINK_SECRET" in keys
    assert all(env.get("sync") is False for env in secrets["envVars"])
    for item in blueprint()["services"]:
        if item["type"] != "keyvalue":
            assert {"fromGroup": "ragops-secrets"} in item["envVars"], item["name"]
    settings = {
        env["key"]: env["value"]
        for group in blueprint()["envVarGroups"]
        for env in group["envVars"]
        if "value" in env
    }
    assert settings["RAGOPS_ENVIRONMENT"] == "production"
    assert settings["RAGOPS_AUTO_MIGRATE"] == "false"  # the pre-deploy command migrates


def test_redis_is_a_key_value_instance_wired_by_reference() -> None:
    cache = service("ragops-cache")
    assert cache["type"] == "keyvalue" and cache["maxmemoryPolicy"] in MAXMEMORY
    assert isinstance(cache["ipAllowList"], list)
    wired = [e for e in service("ragops")["envVars"] if e.get("key") == "RAGOPS_REDIS_URL"]
    reference = {"type": "keyvalue", "name": "ragops-cache", "property": "connectionString"}
    assert wired == [{"key": "RAGOPS_REDIS_URL", "fromService": reference}]


def test_maintenance_runs_as_cron_jobs_on_the_same_image() -> None:
    crons = [s for s in blueprint()["services"] if s["type"] == "cron"]
    commands = {c["dockerCommand"] for c in crons}
    assert commands == {"ragops db archive --older-than 30d", "ragops db maintain"}
    for cron in crons:
        fields = cron["schedule"].split()
        assert len(fields) == 5, cron["schedule"]
        assert cron["dockerfilePath"] == service("ragops")["dockerfilePath"]
