"""deploy/k8s: every manifest is valid for a current Kubernetes (kubernetes-validate, strict: unknown fields
are errors), the KEDA ScaledObject is valid against KEDA's published CRD schema (tests/deploy/keda), and the
pieces fit together: names, probes, the worker's real flags and variables, replicas within partitions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import click
import jsonschema
import kubernetes_validate
import pytest
import yaml

from streamer.cli import cli, main
from streamer.cli.common import SettingOption

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KEDA_CRD = REPO / "tests" / "deploy" / "keda" / "keda.sh_scaledobjects.yaml"
KUBERNETES = kubernetes_validate.latest_version()
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _resources() -> dict[str, dict[str, Any]]:
    """kind -> the manifest, for every file the kustomization lists."""
    out = {}
    for name in _kustomization()["resources"]:
        docs = list(yaml.safe_load_all((K8S / name).read_text()))
        assert len(docs) == 1, name
        out[docs[0]["kind"]] = docs[0]
    return out


def _worker_variables() -> set[str]:
    main(["--help"])
    worker = cli.commands["worker"]
    options = [*worker.params, *cli.params]
    return {p.envvar for p in options if isinstance(p, SettingOption) and isinstance(p.envvar, str)}


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("name", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_manifest_is_valid_for_current_kubernetes(name: str) -> None:
    manifest = yaml.safe_load((K8S / name).read_text())
    if manifest["kind"] in KEDA_KINDS:
        assert manifest["apiVersion"] == "keda.sh/v1alpha1"
        return
    kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    statefulset = copy.deepcopy(_resources()["StatefulSet"])
    statefulset["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES, strict=True)


def _crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(KEDA_CRD.read_text())
    assert crd["spec"]["names"]["kind"] == "ScaledObject"
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    assert version["name"] == "v1alpha1"
    return version["schema"]["openAPIV3Schema"]


def _unknown_fields(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields the API server would prune as unknown (a structural schema without additionalProperties)."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                found += _unknown_fields(schema["properties"][key], item, f"{path}.{key}")
            elif "additionalProperties" not in schema and not schema.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                found.append(f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += _unknown_fields(schema["items"], item, f"{path}[{i}]")
    return found


def _check_scaled_object(scaled: dict[str, Any]) -> None:
    schema = _crd_schema()
    jsonschema.Draft7Validator(schema).validate(scaled)
    assert not _unknown_fields(schema, scaled), _unknown_fields(schema, scaled)
    spec = scaled["spec"]  # the CRD's CEL rule, which jsonschema does not run
    assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)


def test_scaled_object_is_valid_against_kedas_crd() -> None:
    _check_scaled_object(_resources()["ScaledObject"])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["spec"].update(maxReplicas=4),  # not a ScaledObject field
        lambda s: s["spec"].update(maxReplicaCount="12"),  # wrong type
        lambda s: s["spec"]["triggers"][0]["metadata"].update(lagThreshold=5000),  # metadata is strings
        lambda s: s["spec"].pop("scaleTargetRef"),
        lambda s: s["spec"].update(minReplicaCount=20),  # above maxReplicaCount
    ],
    ids=["unknown-field", "wrong-type", "metadata-not-string", "missing-target", "min-above-max"],
)
def test_the_crd_check_catches_mistakes(mutate: Any) -> None:
    scaled = copy.deepcopy(_resources()["ScaledObject"])
    mutate(scaled)
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        _check_scaled_object(scaled)


def test_autoscaling_stays_within_the_raw_partitions() -> None:
    resources = _resources()
    config = resources["ConfigMap"]["data"]
    scaled = resources["ScaledObject"]["spec"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert scaled["maxReplicaCount"] <= int(config["STREAMER_PARTITIONS"])
    assert scaled["minReplicaCount"] >= 2  # with maxUnavailable 1 in the PDB, one worker keeps running
    assert trigger["metadata"]["consumerGroup"] == config["STREAMER_APP_ID"]
    assert trigger["metadata"]["bootstrapServers"] == config["STREAMER_BOOTSTRAP"]
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    keda_sasl = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
    assert trigger["metadata"]["sasl"] == keda_sasl[config["STREAMER_SASL_MECHANISM"]]
    assert trigger["authenticationRef"]["name"] == resources["TriggerAuthentication"]["metadata"]["name"]
    target = scaled["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", resources["StatefulSet"]["metadata"]["name"])


def _container() -> dict[str, Any]:
    (container,) = _resources()["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    return container


def _mib(quantity: str) -> float:
    units = {"Mi": 1.0, "Gi": 1024.0}
    return float(quantity[:-2]) * units[quantity[-2:]]


def _measured_peak_rss_mib() -> float:
    """The newest compare run's peak RSS of one worker (a day's results may hold only other measurements)."""
    for path in sorted((REPO / "bench" / "results").glob("*.json"), reverse=True):
        variants = json.loads(path.read_text()).get("compare", {}).get("variants", [])
        for variant in variants:
            if variant["variant"] == "streamer-1":
                return float(variant["peak_rss_mib"])
    raise AssertionError("no results file has a streamer-1 compare run")


def test_worker_pods() -> None:
    resources = _resources()
    statefulset = resources["StatefulSet"]
    pod = statefulset["spec"]["template"]["spec"]
    container = _container()
    env = {e["name"]: e for e in container["env"]}
    # static membership: the pod name, from the downward API
    assert env["STREAMER_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # the data dir on the pod's own persistent volume
    args = container["args"]
    data_dir = args[args.index("--data-dir") + 1]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert data_dir.startswith(mounts[claim["metadata"]["name"]] + "/")
    # the SASL password: a mounted secret file, never an environment value
    password_file = env["STREAMER_SASL_PASSWORD_FILE"]["value"]
    secret_volume = next(v for v in pod["volumes"] if v["name"] == "sasl")
    assert Path(password_file).parent == Path(mounts["sasl"])
    assert Path(password_file).name == secret_volume["secret"]["items"][0]["path"]
    assert "STREAMER_SASL_PASSWORD" not in env
    assert "STREAMER_SASL_PASSWORD" not in resources["ConfigMap"]["data"]
    ca_file = resources["ConfigMap"]["data"]["STREAMER_SSL_CAFILE"]
    assert Path(ca_file).parent == Path(mounts["kafka-ca"])
    # probes on the worker's web port
    port = int(resources["ConfigMap"]["data"]["STREAMER_WEB_PORT"])
    assert resources["ConfigMap"]["data"]["STREAMER_WEB_HOST"] == "0.0.0.0"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["terminationGracePeriodSeconds"] >= 30
    # sized from the benchmark: room for the peak RSS measured, requests within limits
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert _mib(requests["memory"]) <= _mib(limits["memory"])
    assert _mib(limits["memory"]) > max(_measured_peak_rss_mib(), 1024)
    assert float(requests["cpu"]) >= 1  # a busy worker uses one core
    # the headless service and the PDB select these pods
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    service = resources["Service"]
    assert (
        service["spec"]["clusterIP"] == "None"
        and statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    )
    assert service["spec"]["selector"].items() <= labels.items()
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert container["envFrom"][0]["configMapRef"]["name"] == resources["ConfigMap"]["metadata"]["name"]


def test_every_variable_is_a_worker_setting() -> None:
    known = _worker_variables()
    config = set(_resources()["ConfigMap"]["data"])
    env = {e["name"] for e in _container()["env"]}
    assert not (config | env) - known, (config | env) - known


def test_container_args_parse_with_the_real_cli() -> None:
    main(["--help"])
    args = _container()["args"]
    command = cli.commands[args[0]]
    ctx = command.make_context(args[0], list(args[1:]))
    assert isinstance(command, click.Command) and ctx.params["data_dir"] == Path("/var/lib/streamer/data")
