"""deployments/serve.py and deployments/prefect.yaml declare the same deployments, and
`blocks init` plans blocks from the environment without leaking values."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

from blocks.from_env import plan_blocks
from deployments.serve import DEPLOYMENTS, SCHEDULE_SLUG, accepted_parameters, load_flow

YAML = Path(__file__).resolve().parents[2] / "deployments" / "prefect.yaml"


def yaml_deployments() -> dict[str, dict]:
    """'flow/deployment' -> entry, the flow name read from the entrypoint's flow object."""
    out = {}
    for entry in yaml.safe_load(YAML.read_text())["deployments"]:
        path, attr = entry["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        out[f"{getattr(module, attr).name}/{entry['name']}"] = entry
    return out


def test_serve_and_prefect_yaml_agree() -> None:
    declared = yaml_deployments()
    assert set(declared) == {s.full_name for s in DEPLOYMENTS}
    for spec in DEPLOYMENTS:
        entry = declared[spec.full_name]
        flow = load_flow(spec)
        assert flow is not None, f"{spec.module} has no flow named {spec.flow}"
        assert entry["entrypoint"].startswith(spec.module.replace(".", "/") + ".py:")
        assert entry["parameters"] == accepted_parameters(flow, spec.parameters)
        assert entry["work_pool"]["name"] == "specify"
        assert "specify-cloud" in entry["tags"]
        if spec.cron:
            assert entry["schedules"] == [
                {"cron": spec.cron, "timezone": spec.timezone, "slug": SCHEDULE_SLUG}
            ]
        else:
            # null keeps a schedule added in the UI and prints no deprecation warning on
            # redeploy ([] does: "Preserving existing schedules when an empty ...")
            assert entry["schedules"] is None


def test_prefect_yaml_runs_on_a_fresh_worker() -> None:
    """Pull steps that fetch and install the code; no path of this machine anywhere."""
    config = yaml.safe_load(YAML.read_text())
    steps = [next(iter(step)) for step in config["pull"]]
    assert steps == [
        "prefect.deployments.steps.git_clone",
        "prefect.deployments.steps.pip_install_requirements",
    ]
    clone = config["pull"][0]["prefect.deployments.steps.git_clone"]
    assert clone["repository"] == "{{ prefect.variables.specify_cloud_repository }}"
    install = config["pull"][1]["prefect.deployments.steps.pip_install_requirements"]
    assert install["directory"] == "{{ clone.directory }}"
    requirements = (YAML.parents[1] / install["requirements_file"]).read_text()
    assert ".[all]" in requirements.split()

    def strings(node: object) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in strings(v)]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    found = strings(config)
    assert not [s for s in found if s.startswith(("/", "~")) or ":\\" in s], found
    assert "set_working_directory" not in YAML.read_text()
    for entry in config["deployments"]:
        env = entry["work_pool"]["job_variables"]["env"]
        assert env["SPECIFY_PROGRESS_INTERVAL"] and env["PYTHONUNBUFFERED"] == "1"


def test_default_parameters_fit_the_flows() -> None:
    for spec in DEPLOYMENTS:
        flow = load_flow(spec)
        assert flow is not None
        assert accepted_parameters(flow, spec.parameters) == spec.parameters, spec.full_name


def test_blocks_from_env_name_variables_never_values() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "very-secret-value",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    planned = {p.cloud: p for p in plan_blocks(env, bucket="bkt", local_root="/tmp/x")}
    aws = planned["aws"]
    assert aws.block is not None and aws.name == "specify-aws"
    assert aws.variables == sorted(
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"]
    )
    assert aws.block.region_name == "eu-west-1"
    assert aws.block.bucket == "bkt"
    assert "very-secret-value" not in repr(aws.block)
    assert planned["gcp"].block is None and "GOOGLE_CLOUD_PROJECT" in planned["gcp"].reason
    assert planned["local"].block is not None and planned["local"].name == "specify-local"
