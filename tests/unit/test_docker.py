"""Images and the compose stack: hadolint on the Dockerfiles, the compose file against the
compose specification (check-jsonschema), and the stack's Prometheus and Grafana wired to the
same alert rules and dashboard files as the Helm chart."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from promql_sources import ALERTS, DASHBOARD

from sparsiflow.connector.cli.main import main

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILES = {"cpu": DOCKER / "cpu" / "Dockerfile", "cuda": DOCKER / "cuda" / "Dockerfile"}
BIN = Path(sys.executable).parent


def run(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def hadolint(path: Path) -> list[dict[str, Any]]:
    done = run(BIN / "hadolint", "--no-color", "--format", "json", "--failure-threshold",
               "style", path)  # fmt: skip
    findings: list[dict[str, Any]] = json.loads(done.stdout or "[]")
    assert (done.returncode == 0) == (not findings), done.stderr
    return findings


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of a compose service's bind mounts."""
    found = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (COMPOSE.parent / source).resolve()
    return found


@pytest.mark.parametrize("variant", sorted(DOCKERFILES))
def test_dockerfiles_pass_hadolint(variant: str) -> None:
    assert hadolint(DOCKERFILES[variant]) == []


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install requests\n")
    codes = {finding["code"] for finding in hadolint(bad)}
    assert {"DL3007", "DL3003"} <= codes


@pytest.mark.parametrize("variant", sorted(DOCKERFILES))
def test_images_are_multi_stage_non_root_and_health_checked(variant: str) -> None:
    text = DOCKERFILES[variant].read_text()
    assert len(re.findall(r"^FROM .* AS (\w+)$", text, re.MULTILINE)) == 2
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    health = re.search(r"^HEALTHCHECK .*\n(.*\n)*?.*CMD \[(.*)\]$", text, re.MULTILINE)
    assert health
    assert "/metrics" in health.group(2)
    assert "SPARSIFLOW_METRICS_PORT=9108" in text
    assert "EXPOSE 9108" in text
    assert 'ENTRYPOINT ["sparsiflow"]' in text
    lock = "gpu.txt" if variant == "cuda" else "runtime.txt"
    assert f"pip install --require-hashes --no-deps -r requirements/{lock}" in text
    assert "pip install --require-hashes --no-deps -r requirements/build.txt" in text
    assert "pip install --no-deps /tmp/wheel/*.whl" in text  # the package, without resolving


@pytest.mark.parametrize("variant", sorted(DOCKERFILES))
def test_images_carry_their_compiled_kernels(variant: str) -> None:
    """Every kernel is compiled at build time for any x86-64 CPU, and at run time read from the
    image into the writable cache folder (engine/kernel_cache.py), not compiled again."""
    build, runtime = re.split(r"^FROM .* AS runtime$", DOCKERFILES[variant].read_text(), flags=re.M)
    assert "ENV NUMBA_CPU_NAME=generic" in build
    assert "SPARSIFLOW_CACHE_DIR=/opt/sparsiflow/cache /opt/venv/bin/sparsiflow warmup" in build
    assert "/opt/venv/bin/sparsiflow warmup --check" in build  # the run-time copy is warm
    assert "COPY --from=build /opt/sparsiflow/cache /opt/sparsiflow/cache" in runtime
    for setting in (
        "NUMBA_CPU_NAME=generic",
        "SPARSIFLOW_CACHE_DIR=/tmp/sparsiflow",
        "SPARSIFLOW_PREBUILT_KERNELS=/opt/sparsiflow/cache/numba",
    ):
        assert setting in runtime
    assert "NUMBA_CACHE_DIR" not in runtime  # it would replace the per-version folder


def test_dockerignore_sends_only_the_package_sources() -> None:
    lines = [
        line for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!engine/", "!connector/", "!schemas/"} <= set(lines)
    assert {"!workloads/", "!sparsiflow/"} <= set(lines)
    assert {"!requirements/runtime.txt", "!requirements/gpu.txt", "!requirements/build.txt"} <= (
        set(lines)
    )


def test_compose_file_follows_the_compose_specification() -> None:
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_validation_catches_mistakes(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["worker"]["restart"] = ["always"]
    broken["services"]["worker"]["helthcheck"] = {"test": ["CMD", "true"]}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path)
    assert done.returncode == 1, done.stdout + done.stderr


def test_compose_runs_kafka_in_kraft_mode_with_worker_and_demo_producer() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker", "producer", "prometheus", "grafana"}
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in json.dumps(kafka)
    worker = services["worker"]
    assert worker["build"] == {"context": "..", "dockerfile": "docker/cpu/Dockerfile"}
    assert worker["environment"]["SPARSIFLOW_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = " ".join(services["producer"]["command"])
    assert "sparsiflow generate" in script
    assert "sparsiflow produce" in script
    assert services["producer"]["image"] == worker["image"]


def test_compose_commands_parse_with_the_real_cli(tmp_path: Path) -> None:
    """Every sparsiflow command line of the stack is accepted by the CLI's own parser (the
    producer's /tmp files live in tmp_path here, as ``generate`` would have written them)."""
    services = compose()["services"]
    lines = [services["worker"]["command"]]
    for step in " ".join(services["producer"]["command"]).split("&&"):
        program, *args = shlex.split(step.replace("/tmp/", f"{tmp_path}/"))
        assert program == "sparsiflow"
        lines.append(args)
    assert [line[0] for line in lines] == ["worker", "generate", "produce", "produce"]
    generate = lines[1]
    for flag in ("--out", "--updates"):
        Path(generate[generate.index(flag) + 1]).touch()
    for name, *args in lines:
        command = main.get_command(click.Context(main), name)
        assert command is not None, name
        command.make_context(name, args)  # raises on an unknown or malformed option


def test_compose_prometheus_loads_the_chart_rules_and_scrapes_the_worker(tmp_path: Path) -> None:
    prometheus = mounts("prometheus")
    config = yaml.safe_load(prometheus["/etc/prometheus/prometheus.yml"].read_text())
    (rules_target,) = [target for target, source in prometheus.items() if source == ALERTS]
    (pattern,) = config["rule_files"]
    assert Path(rules_target).match(pattern)
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "sparsiflow", "the alert rules select job='sparsiflow'"
    port = compose()["services"]["worker"]["environment"]["SPARSIFLOW_METRICS_PORT"]
    assert job["static_configs"] == [{"targets": [f"worker:{port}"]}]
    # promtool checks the config with the rules file where the container will see it
    config["rule_files"] = [str(ALERTS)]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    done = run("promtool", "check", "config", local)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_grafana_provisions_the_chart_dashboard_and_prometheus() -> None:
    grafana = mounts("grafana")
    provisioning = grafana["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "sparsiflow.yaml").read_text())[
        "providers"
    ]
    (dashboard_target,) = [target for target, source in grafana.items() if source == DASHBOARD]
    assert Path(dashboard_target).parent == Path(provider["options"]["path"])
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
