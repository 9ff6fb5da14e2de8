"""Every SPARSIFLOW_* variable the images, the compose stack and the chart set is a setting the
worker reads (sparsiflow.connector.settings), so a renamed setting cannot silently stop applying."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from pydantic_settings import BaseSettings

import sparsiflow.connector.settings
from sparsiflow.engine import kernel_cache

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "sparsiflow"
_NAME = re.compile(r"\bSPARSIFLOW_[A-Z0-9_]+\b")


def setting_names() -> set[str]:
    """Environment variable of each field of each settings class."""
    names = set()
    for _, cls in inspect.getmembers(sparsiflow.connector.settings, inspect.isclass):
        if issubclass(cls, BaseSettings) and cls is not BaseSettings:
            prefix = cls.model_config.get("env_prefix", "")
            names |= {f"{prefix}{field}".upper() for field in cls.model_fields}
    return names


def chart_names(values_file: Path) -> set[str]:
    values = yaml.safe_load(values_file.read_text()) or {}
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name="r", namespace="n")
    return set(_NAME.findall(rendered["sparsiflow/templates/configmap.yaml"])) | set(
        _NAME.findall(rendered["sparsiflow/templates/statefulset.yaml"])
    )


def test_settings_are_read_from_the_environment() -> None:
    assert {"SPARSIFLOW_BOOTSTRAP_SERVERS", "SPARSIFLOW_METRICS_PORT"} <= setting_names()


@pytest.mark.parametrize(
    "values", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name
)
def test_chart_sets_only_known_settings(values: Path) -> None:
    used = chart_names(values)
    assert "SPARSIFLOW_STATE_DIR" in used
    assert used - setting_names() == set()


@pytest.mark.parametrize(
    "path", ["docker/compose.yaml", "docker/cpu/Dockerfile", "docker/cuda/Dockerfile"]
)
def test_images_and_compose_set_only_known_settings(path: str) -> None:
    """The images also set the kernel cache's variables, read at import (kernel_cache)."""
    used = set(_NAME.findall((REPO / path).read_text()))
    assert "SPARSIFLOW_METRICS_PORT" in used
    assert used - setting_names() - set(kernel_cache.ENVIRONMENT) == set()
