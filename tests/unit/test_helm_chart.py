"""The Helm chart, rendered and linted by the real Helm engine (helm-python-sdk) for every ci/
scenario; core manifests validated against the Kubernetes schemas (kubernetes-validate)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from promql_sources import ALERTS, DASHBOARD

CHART = Path(__file__).resolve().parents[2] / "helm" / "sparsiflow"
SCENARIOS = sorted(
    p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")
)
KUBERNETES = "1.30.0"  # oldest version the chart is validated against (Chart.yaml allows >=1.25)
CRDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
RELEASE, NAMESPACE = "prod", "graphs"
FULLNAME = f"{RELEASE}-sparsiflow"

Manifests = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def scenario_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()) or {}


def render_raw(chart: helm.Chart, values: dict[str, Any]) -> dict[str, str]:
    return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(chart: helm.Chart, values: dict[str, Any]) -> Manifests:
    """Rendered objects by kind (NOTES.txt and disabled templates left out)."""
    kinds: Manifests = {}
    for path, text in render_raw(chart, values).items():
        if path.endswith(".yaml"):
            for doc in yaml.safe_load_all(text):
                if doc:
                    kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def one(kinds: Manifests, kind: str, name: str = FULLNAME) -> dict[str, Any]:
    (found,) = [obj for obj in kinds.get(kind, []) if obj["metadata"]["name"] == name]
    return found


def worker(kinds: Manifests) -> dict[str, Any]:
    return one(kinds, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def port_of(container: dict[str, Any]) -> int:
    (port,) = container["ports"]
    return int(port["containerPort"])


def test_the_ci_scenarios_exist() -> None:
    assert {"default", "gpu", "monitoring"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_lint_is_clean(scenario: str) -> None:
    report = helm.lint(CHART, scenario_values(scenario), strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifests_are_valid_kubernetes_objects(chart: helm.Chart, scenario: str) -> None:
    kinds = render(chart, scenario_values(scenario))
    for kind, objects in kinds.items():
        for obj in objects:
            meta = obj["metadata"]
            labels = meta["labels"]
            assert labels["app.kubernetes.io/name"] == "sparsiflow"
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"] == "sparsiflow-0.1.0"
            assert meta["namespace"] == NAMESPACE
            if kind not in CRDS:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_validation_catches_a_broken_manifest(chart: helm.Chart) -> None:
    statefulset = one(render(chart, {}), "StatefulSet")
    statefulset["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES, strict=True)


def test_default_is_a_hardened_cpu_worker_with_a_checkpoint_volume(chart: helm.Chart) -> None:
    raw = render_raw(chart, {})
    kinds = render(chart, {})
    assert set(kinds) == {
        "ConfigMap", "Service", "ServiceAccount", "StatefulSet", "PodDisruptionBudget", "Pod",
    }  # fmt: skip
    statefulset = one(kinds, "StatefulSet")
    spec, pod = statefulset["spec"], statefulset["spec"]["template"]["spec"]
    container = worker(kinds)
    assert spec["replicas"] == 1
    assert spec["serviceName"] == FULLNAME
    assert container["image"] == "sparsiflow:0.1.0"
    assert container["args"] == ["worker"]
    assert "nvidia.com/gpu" not in container["resources"].get("limits", {})
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert container["ports"] == [{"name": "metrics", "containerPort": 9108, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    hardening = container["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"] == {"drop": ["ALL"]}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "state"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"state": "/var/lib/sparsiflow", "tmp": "/tmp"}
    env = one(kinds, "ConfigMap")["data"]
    assert env["SPARSIFLOW_STATE_DIR"] == "/var/lib/sparsiflow"
    assert env["SPARSIFLOW_METRICS_PORT"] == "9108"
    assert env["SPARSIFLOW_ENGINE_BACKEND"] == "auto"
    assert env["SPARSIFLOW_ENGINE_THREADS"] == "1"
    assert env["SPARSIFLOW_PARTITIONER"] == "murmur2"  # which partition owns a graph
    assert container["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]
    config_text = raw["sparsiflow/templates/configmap.yaml"]
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/config"] == hashlib.sha256(config_text.encode()).hexdigest()
    (port,) = one(kinds, "Service")["spec"]["ports"]
    assert one(kinds, "Service")["spec"]["clusterIP"] == "None"
    assert port["port"] == port_of(container) == 9108, "headless: clients use the pod's port"
    pdb = one(kinds, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == spec["selector"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_the_kernel_cache_is_left_to_the_image(chart: helm.Chart) -> None:
    """The image copies its compiled kernels into /tmp at start (the root filesystem is
    read-only): the chart keeps /tmp writable and leaves the image's cache settings alone."""
    kinds = render(chart, {})
    settings = {
        "NUMBA_CACHE_DIR",
        "NUMBA_CPU_NAME",
        "SPARSIFLOW_CACHE_DIR",
        "SPARSIFLOW_PREBUILT_KERNELS",
    }
    assert not settings & set(one(kinds, "ConfigMap")["data"])
    volumes = one(kinds, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "tmp")["emptyDir"]["medium"] == "Memory"


def test_config_changes_roll_the_pods(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        template = one(render(chart, values), "StatefulSet")["spec"]["template"]
        return str(template["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) != checksum({"topics": {"input": "other.edge-updates"}})


def test_helm_test_pod_reads_metrics_of_the_service(chart: helm.Chart) -> None:
    kinds = render(chart, {"worker": {"metricsPort": 9200}})
    (pod,) = kinds["Pod"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][0]
    assert port_of(worker(kinds)) == 9200
    assert f"http://{FULLNAME}.{NAMESPACE}.svc:9200/metrics" in script
    assert "sparsiflow_worker_up" in script
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_gpu_variant(chart: helm.Chart) -> None:
    kinds = render(chart, scenario_values("gpu"))
    pod = one(kinds, "StatefulSet")["spec"]["template"]["spec"]
    container = worker(kinds)
    assert container["image"] == "sparsiflow:0.1.0-cuda"
    assert container["resources"]["limits"] == {"memory": "16Gi", "nvidia.com/gpu": 1}
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert pod["runtimeClassName"] == "nvidia"
    env = one(kinds, "ConfigMap")["data"]
    assert env["SPARSIFLOW_ENGINE_BACKEND"] == "cupy"
    assert env["SPARSIFLOW_ENGINE_TARGET_KAPPA"] == "100"


def test_monitoring_objects_select_the_worker(chart: helm.Chart) -> None:
    kinds = render(chart, scenario_values("monitoring"))
    service = one(kinds, "Service")
    monitor = one(kinds, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= (
        one(kinds, "StatefulSet")["spec"]["template"]["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # the rules select job="sparsiflow": the job comes from this Service label
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "sparsiflow"
    assert one(kinds, "PrometheusRule")["spec"] == yaml.safe_load(ALERTS.read_text())
    dashboard = one(kinds, "ConfigMap", f"{FULLNAME}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["data"]["sparsiflow-dashboard.json"] == DASHBOARD.read_text().rstrip("\n")


def test_keda_scales_the_statefulset_on_the_worker_group_lag(chart: helm.Chart) -> None:
    kinds = render(chart, scenario_values("monitoring"))
    scaled = one(kinds, "ScaledObject")["spec"]
    env = one(kinds, "ConfigMap")["data"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": FULLNAME,
    }  # fmt: skip
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == env["SPARSIFLOW_GROUP_ID"]
    assert trigger["metadata"]["topic"] == env["SPARSIFLOW_INPUT_TOPIC"]
    assert trigger["authenticationRef"] == {"name": "sparsiflow-kafka"}
    assert "replicas" not in one(kinds, "StatefulSet")["spec"], "KEDA owns the replica count"


def test_sasl_credentials_come_from_a_secret(chart: helm.Chart) -> None:
    kinds = render(chart, scenario_values("monitoring"))
    secret = one(kinds, "Secret", f"{FULLNAME}-sasl")
    assert base64.b64decode(secret["data"]["username"]) == b"sparsiflow"
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in worker(kinds)["env"]}
    assert env["SPARSIFLOW_SASL_PASSWORD"] == {"name": f"{FULLNAME}-sasl", "key": "password"}
    assert one(kinds, "ConfigMap")["data"]["SPARSIFLOW_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "SPARSIFLOW_SASL_PASSWORD" not in one(kinds, "ConfigMap")["data"]
    existing = {"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"existingSecret": "kafka-user"}}}
    kinds = render(chart, existing)
    assert "Secret" not in kinds
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in worker(kinds)["env"]} == {"kafka-user"}
    with pytest.raises(helm.HelmError, match=r"kafka\.sasl\.username is required"):
        render(chart, {"kafka": {"securityProtocol": "SASL_PLAINTEXT"}})


def test_without_persistence_the_state_is_an_empty_dir(chart: helm.Chart) -> None:
    statefulset = one(render(chart, {"persistence": {"enabled": False}}), "StatefulSet")
    assert "volumeClaimTemplates" not in statefulset["spec"]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_schema_accepts_the_scenarios(chart: helm.Chart, scenario: str) -> None:
    chart.validate_schema(scenario_values(scenario))


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"replicaCount": -1}, "/replicaCount"),
        ({"replicas": 2}, "additional properties 'replicas'"),
        ({"gpu": {"count": 0}}, "/gpu/count"),
        ({"gpu": {"enabled": "yes"}}, "/gpu/enabled"),
        ({"worker": {"engine": {"backend": "tpu"}}}, "/worker/engine/backend"),
        ({"worker": {"engine": {"targetKappa": 0.5}}}, "/worker/engine/targetKappa"),
        ({"worker": {"engine": {"threads": 0}}}, "/worker/engine/threads"),
        ({"worker": {"metricsPort": 80}}, "/worker/metricsPort"),
        ({"worker": {"extraEnv": {"PATH": "/x"}}}, "PATH"),
        ({"kafka": {"bootstrapServers": "no-port"}}, "/kafka/bootstrapServers"),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol"),
        ({"topics": {"input": "bad topic"}}, "/topics/input"),
        ({"topics": {"partitioner": "random"}}, "/topics/partitioner"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval"),
        ({"persistence": {"size": "lots"}}, "/persistence/size"),
    ],
)
def test_schema_rejects_bad_values(chart: helm.Chart, values: dict[str, Any], error: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=error):
        chart.validate_schema(values)


def test_every_values_key_is_declared_and_commented() -> None:
    """Each key the chart defines (schema ``properties``) is in the schema and has a comment,
    on itself or on the group holding it; keys of free-form Kubernetes objects are data."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    # (indent, schema node, commented) of the keys enclosing the current line
    stack: list[tuple[int, dict[str, Any] | None, bool]] = [(-1, schema, False)]
    for number, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        while stack[-1][0] >= indent:
            stack.pop()
        if text.startswith("- "):
            continue
        key = text.split(":", 1)[0]
        _, parent, parent_commented = stack[-1]
        commented = lines[number - 1].strip().startswith("#")
        declared = None
        if parent and "properties" in parent:
            declared = parent["properties"].get(key)
            where = f"values.yaml:{number + 1} {key}"
            assert declared is not None, f"{where} is not in the schema"
            is_group = "properties" in declared
            assert commented or parent_commented or is_group, f"{where} has no comment"
        stack.append((indent, declared, commented))


def test_tls_files_are_mounted_from_a_secret(chart: helm.Chart) -> None:
    kinds = render(chart, scenario_values("secure"))
    container = worker(kinds)
    pod = one(kinds, "StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-tls"]
    assert volume["secret"]["secretName"] == "sparsiflow-kafka-tls"
    assert volume["secret"]["items"] == [
        {"key": "ca.crt", "path": "ca.crt"},
        {"key": "tls.crt", "path": "client.crt"},
        {"key": "tls.key", "path": "client.key"},
    ]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-tls"]
    assert mount == {
        "name": "kafka-tls",
        "mountPath": "/etc/sparsiflow/kafka-tls",
        "readOnly": True,
    }
    env = one(kinds, "ConfigMap")["data"]
    assert env["SPARSIFLOW_SECURITY_PROTOCOL"] == "SSL"
    assert env["SPARSIFLOW_SSL_CAFILE"] == "/etc/sparsiflow/kafka-tls/ca.crt"
    assert env["SPARSIFLOW_SSL_CERTFILE"] == "/etc/sparsiflow/kafka-tls/client.crt"
    assert env["SPARSIFLOW_SSL_KEYFILE"] == "/etc/sparsiflow/kafka-tls/client.key"
    assert not any("PASSWORD" in name for name in env), "secrets never go to the ConfigMap"
    assert container["env"] == [
        {
            "name": "SPARSIFLOW_SSL_KEY_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "sparsiflow-kafka-tls", "key": "key-password"}},
        }
    ]


def test_server_only_tls_with_sasl_mounts_just_the_ca(chart: helm.Chart) -> None:
    values = {
        "kafka": {
            "securityProtocol": "SASL_SSL",
            "sasl": {"existingSecret": "kafka-user"},
            "tls": {"existingSecret": "kafka-ca", "caKey": "ca.pem", "mountPath": "/certs"},
        }
    }
    kinds = render(chart, values)
    env = one(kinds, "ConfigMap")["data"]
    assert env["SPARSIFLOW_SSL_CAFILE"] == "/certs/ca.crt"
    assert "SPARSIFLOW_SSL_CERTFILE" not in env and "SPARSIFLOW_SSL_KEYFILE" not in env
    pod = one(kinds, "StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "kafka-tls"]
    assert volume["secret"]["items"] == [{"key": "ca.pem", "path": "ca.crt"}]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in worker(kinds)["env"]}
    assert refs == {
        "SPARSIFLOW_SASL_USERNAME": "kafka-user",
        "SPARSIFLOW_SASL_PASSWORD": "kafka-user",
    }
    plain = render(chart, {})
    assert "kafka-tls" not in {
        v["name"] for v in one(plain, "StatefulSet")["spec"]["template"]["spec"]["volumes"]
    }
    assert not any(name.startswith("SPARSIFLOW_SSL_") for name in one(plain, "ConfigMap")["data"])


@pytest.mark.parametrize(
    ("tls", "protocol", "error"),
    [
        ({"existingSecret": "s"}, "PLAINTEXT", r"needs kafka\.securityProtocol SSL or SASL_SSL"),
        ({"existingSecret": "s", "certKey": "tls.crt"}, "SSL", r"certKey and kafka\.tls\.keyKey"),
        ({"existingSecret": "s", "keyPasswordKey": "p"}, "SSL", r"keyPasswordKey needs"),
        ({"existingSecret": "s", "caKey": ""}, "SSL", r"needs kafka\.tls\.caKey and/or"),
    ],
)
def test_inconsistent_tls_values_fail_the_render(
    chart: helm.Chart, tls: dict[str, str], protocol: str, error: str
) -> None:
    with pytest.raises(helm.HelmError, match=error):
        render(chart, {"kafka": {"securityProtocol": protocol, "tls": tls}})


def test_network_policy_admits_only_the_scrape_and_reaches_only_brokers_and_dns(
    chart: helm.Chart,
) -> None:
    kinds = render(chart, scenario_values("secure"))
    policy = one(kinds, "NetworkPolicy")["spec"]
    template = one(kinds, "StatefulSet")["spec"]["template"]
    (test_pod,) = kinds["Pod"]
    selector = policy["podSelector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items(), "selects the workers"
    assert not selector.items() <= test_pod["metadata"]["labels"].items(), "not the test pod"
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": port_of(worker(kinds)), "protocol": "TCP"}]
    scrapers = ingress["from"]
    assert scrapers[0] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    assert (
        scrapers[1]["podSelector"]["matchLabels"].items() <= test_pod["metadata"]["labels"].items()
    )
    brokers, dns = policy["egress"]
    assert brokers["ports"] == [{"port": 9093, "protocol": "TCP"}]  # from bootstrapServers
    assert brokers["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "streaming"}}}
    ]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_network_policy_defaults_are_open_peers_on_the_bootstrap_ports(chart: helm.Chart) -> None:
    values = {
        "kafka": {"bootstrapServers": "a:9092,b:9094,c:9092"},
        "networkPolicy": {"enabled": True},
        "worker": {"metricsPort": 9300},
    }
    policy = one(render(chart, values), "NetworkPolicy")["spec"]
    (ingress,) = policy["ingress"]
    assert ingress == {"ports": [{"port": 9300, "protocol": "TCP"}]}  # any source, that port only
    brokers, dns = policy["egress"]
    assert brokers == {
        "ports": [{"port": 9092, "protocol": "TCP"}, {"port": 9094, "protocol": "TCP"}]
    }
    assert "to" not in dns
    values["networkPolicy"] = {"enabled": True, "kafka": {"ports": [19092]}}
    brokers, _ = one(render(chart, values), "NetworkPolicy")["spec"]["egress"]
    assert brokers["ports"] == [{"port": 19092, "protocol": "TCP"}]
    assert "NetworkPolicy" not in render(chart, {}), "off by default"


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"worker": {"extraEnv": {"SPARSIFLOW_SASL_PASSWORD": "x"}}}, "SPARSIFLOW_SASL_PASSWORD"),
        ({"worker": {"extraEnv": {"SPARSIFLOW_SSL_KEY_PASSWORD": "x"}}}, "SPARSIFLOW_SSL_KEY_PASS"),
        ({"kafka": {"tls": {"mountPath": "certs"}}}, "/kafka/tls/mountPath"),
        ({"kafka": {"tls": {"existingSecret": "Bad_Name"}}}, "/kafka/tls/existingSecret"),
        ({"networkPolicy": {"kafka": {"ports": [0]}}}, "/networkPolicy/kafka/ports"),
        ({"networkPolicy": {"metrics": {"from": "prometheus"}}}, "/networkPolicy/metrics/from"),
        ({"networkPolicy": {"egress": []}}, "additional properties 'egress'"),
    ],
)
def test_schema_rejects_bad_security_values(
    chart: helm.Chart, values: dict[str, Any], error: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=error):
        chart.validate_schema(values)
