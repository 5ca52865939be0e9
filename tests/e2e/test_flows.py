"""What a Prefect user sees of the flows, on a real server with served deployments: the
Custom run form (parameter schemas as stored on the server), honest run states, task
names and tags, progress artifacts and log lines, and the events automations read."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import APP
from tests.e2e.conftest import BUCKET, Stack
from tests.e2e.test_deployments import make_buckets
from tests.prefect_server import REPO_ROOT, deployments_by_name

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- the form
def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """node with a $ref (also inside allOf/anyOf) replaced by its definition."""
    ref = node.get("$ref")
    for alt in [*(node.get("allOf") or []), *(node.get("anyOf") or [])]:
        ref = ref or alt.get("$ref")
    if not ref:
        return node
    name = ref.rsplit("/", 1)[-1]
    return dict(schema["definitions"][name])


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(node.get("anyOf") or []), *(node.get("allOf") or [])]


def _schemas(stack: Stack) -> dict[str, dict[str, Any]]:
    names = ["replicate/by-hand", "deploy/by-hand", "destroy/by-hand", "cost-compare/daily"]
    stack.served.wait_for(names)
    found = deployments_by_name(stack.server)
    return {n: found[n]["parameter_openapi_schema"] for n in names}


def test_every_field_of_the_run_forms_says_what_it_does(stack: Stack) -> None:
    schemas = _schemas(stack)
    for name, schema in schemas.items():
        assert schema["properties"], name
        for param, prop in schema["properties"].items():
            assert len(prop.get("description", "")) > 10, f"{name}: {param} has no description"
        for model, definition in (schema.get("definitions") or {}).items():
            for field, prop in definition.get("properties", {}).items():
                assert len(prop.get("description", "")) > 10, f"{name}: {model}.{field}"

    deploy = schemas["deploy/by-hand"]
    strategy = deploy["properties"]["strategy"]
    assert strategy["enum"] == ["best-effort", "all-or-nothing"], strategy
    target = _resolve(deploy, next(v for v in _variants(deploy["properties"]["targets"]["items"])
                                   if "$ref" in v))  # fmt: skip
    assert {"provider", "region", "size"} <= set(target["properties"])

    replicate = schemas["replicate/by-hand"]
    options = _resolve(replicate, replicate["properties"]["options"])
    assert {"include", "exclude", "dry_run", "transfers", "bandwidth_limit"} <= set(
        options["properties"]
    )
    assert options["properties"]["transfers"].get("minimum") == 1

    cost = schemas["cost-compare/daily"]
    for day in ("start", "end"):
        formats = {v.get("format") for v in _variants(cost["properties"][day])}
        assert "date" in formats, cost["properties"][day]
    cost_options = _resolve(cost, cost["properties"]["options"])
    group_by = cost_options["properties"]["group_by"]
    assert group_by["enum"] == ["category", "service", "region", "charge", "tag"], group_by
    assert "optional" in cost["properties"]


# --------------------------------------------------------------------------- replicate
_MOVED = re.compile(r"objects copied, ([\d.]+) (B|KiB|MiB) of")


def _bytes(value: str, unit: str) -> float:
    return float(value) * {"B": 1, "KiB": 1024, "MiB": 1024**2}[unit]


def _task_runs(stack: Stack, run_id: str, expect: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        runs = stack.task_runs(run_id)
        final = [r for r in runs if r["state"] and r["state"]["type"] in {"COMPLETED", "FAILED"}]
        if len(final) >= expect or time.monotonic() > deadline:
            return {r["name"]: r for r in runs}
        time.sleep(0.5)


def test_replicate_shows_progress_fails_honestly_and_emits_events(stack: Stack) -> None:
    make_buckets()
    prefix = f"prog-{uuid.uuid4().hex[:8]}"
    src = stack.local_root / "storage" / BUCKET / prefix
    src.mkdir(parents=True)
    files = {"big.bin": os.urandom(600_000), "a.txt": b"alpha\n", "b.txt": b"beta\n"}
    for key, data in files.items():
        (src / key).write_bytes(data)
    good = f"block:specify-local/{prefix}-copy"
    good_url = (stack.local_root / "storage" / BUCKET / f"{prefix}-copy").as_uri()
    missing = f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/data"

    result, run = stack.run_deployment(
        "replicate/by-hand",
        {
            "source": f"block:specify-local/{prefix}",
            "targets": [good, missing],
            "options": {"bandwidth_limit": 250_000},  # about 2.5 s: several progress lines
        },
    )

    # the state automations read: Failed, naming the missing bucket and nothing else
    assert result.returncode == 1, result.stdout + result.stderr
    assert run["state"]["type"] == "FAILED"
    message = run["state"]["message"] or ""
    assert missing in message and good not in message, message
    assert "1 of 2 targets" in message, message

    # task runs say the cloud URL (the block resolved) and carry the cloud's tag; the
    # source is read once, by the one shard task (3 objects), for the target that is up
    tasks = _task_runs(stack, run["id"], expect=4)
    ok_task = tasks[f"replicate to {good_url}"]
    bad_task = tasks[f"replicate to {missing}"]
    shard = tasks["shard 1/1 [..)"]
    assert ok_task["state"]["type"] == "COMPLETED" and "local" in ok_task["tags"]
    assert bad_task["state"]["type"] == "FAILED" and "aws" in bad_task["tags"]
    assert bad_task["run_count"] == 1, "a missing bucket must not be retried"
    assert shard["state"]["type"] == "COMPLETED" and shard["tags"] == ["local"], shard

    # a progress artifact per target (the share of its shards done); the finished one at 100 %
    from flows.common import short_key
    from flows.replicate import PROGRESS_KEY

    progress = {a["key"]: a for a in stack.artifacts(run["id"]) if a["type"] == "progress"}
    assert set(progress) == {short_key(PROGRESS_KEY, u) for u in (good_url, missing)}, progress
    assert progress[short_key(PROGRESS_KEY, good_url)]["data"] == 100.0
    assert progress[short_key(PROGRESS_KEY, missing)]["data"] < 100.0

    # log lines per target at a steady interval from the shard: objects, bytes and rate
    logs = stack.logs(run["id"])
    lines = [
        log["message"]
        for log in logs
        if log["task_run_id"] == shard["id"] and "objects copied" in log["message"]
    ]
    assert len(lines) >= 3, lines
    assert all(good_url in line and "/s" in line for line in lines), lines
    assert lines[-1].startswith(f"{good_url} (shard 1/1 [..)): 3/3 objects copied"), lines[-1]
    moved = [_bytes(m.group(1), m.group(2)) for ln in lines if (m := _MOVED.search(ln))]
    assert len(moved) == len(lines) and moved == sorted(moved), lines
    assert len(set(moved)) >= 2 and moved[-1] == pytest.approx(len(files["big.bin"]) + 11, 1e-3)
    # and the flow's line per target as each shard finishes
    totals = [log["message"] for log in logs if log["task_run_id"] is None]
    assert any(
        t.startswith(f"{good_url}: 3/3 objects copied") and "1/1 shards" in t for t in totals
    )

    # one event per target, related to the run, with the figures
    found = stack.events(run["id"], "specify-cloud.replication.", expect=2)
    by_name = {e["event"]: e for e in found}
    done = by_name["specify-cloud.replication.completed"]
    assert done["resource"]["prefect.resource.id"] == f"specify-cloud.location.{good}"
    assert done["payload"]["copied"] == 3
    assert done["payload"]["bytes_copied"] == sum(len(v) for v in files.values())
    assert done["payload"]["cloud"] == "local"
    failed = by_name["specify-cloud.replication.failed"]
    assert failed["payload"]["target"] == missing and failed["payload"]["cloud"] == "aws"
    assert "no-such-bucket" in failed["payload"]["error"]


# --------------------------------------------------------------------------- cost
def test_cost_anomaly_events_name_the_seeded_spike(stack: Stack, tmp_path: Path) -> None:
    from providers.cost import sample

    start, end = date(2026, 9, 1), date(2026, 10, 1)
    truth = sample.generate(tmp_path / "truth", start=start, days=(end - start).days)
    provider, service, day = truth.spike

    result, run = stack.run_deployment(
        "cost-compare/daily",
        {"start": start.isoformat(), "end": end.isoformat(), "sample": True},
    )
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
    found = stack.events(run["id"], "specify-cloud.cost.anomaly")
    spikes = [
        e["payload"]
        for e in found
        if e["payload"]["provider"] == provider and e["payload"]["service"] == service
    ]
    assert [p["day"] for p in spikes] == [day.isoformat()], [e["payload"] for e in found]
    spike = spikes[0]
    assert float(spike["cost"]) > float(spike["previous"]) > 0
    increase = float(spike["cost"]) - float(spike["previous"])
    assert float(spike["increase"]) == pytest.approx(increase)
    assert found[0]["resource"]["prefect.resource.id"].startswith("specify-cloud.cost.")


def test_cost_compare_with_a_missing_source_fails_unless_optional(stack: Stack) -> None:
    missing = "/nonexistent/billing-exports"
    result, run = stack.run_deployment("cost-compare/daily", {"sources": [missing], "sample": True})
    assert result.returncode == 1, result.stdout + result.stderr
    assert run["state"]["type"] == "FAILED"
    assert missing in (run["state"]["message"] or "")
    keys = {a["key"] for a in stack.artifacts(run["id"])}
    assert "cost-comparison" in keys, keys  # the others were still compared

    result, run = stack.run_deployment(
        "cost-compare/daily", {"sources": [missing], "sample": True, "optional": [missing]}
    )
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr


# --------------------------------------------------------------------------- deploy
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deploy_local(stack: Stack, app: Path, dep_id: str) -> dict[str, Any]:
    result, run = stack.run_deployment(
        "deploy/by-hand",
        {
            "artifact": str(app),
            "targets": [{"provider": "local", "region": "local"}],
            "deployment_id": dep_id,
            "port": _free_port(),
            "timeout": 60,
        },
    )
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
    return run


def _answers(address: str) -> bytes | None:
    try:
        with _HTTP.open(f"http://{address}/", timeout=5) as resp:
            body: bytes = resp.read()
            return body
    except OSError:
        return None


def test_deploy_and_destroy_emit_events_and_progress(stack: Stack, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text(APP)
    dep_id = f"e2e-{uuid.uuid4().hex[:8]}"
    run = _deploy_local(stack, app, dep_id)
    (event,) = stack.events(run["id"], "specify-cloud.deploy.")
    assert event["event"] == "specify-cloud.deploy.completed"
    assert event["resource"]["prefect.resource.id"] == f"specify-cloud.deployment.{dep_id}"
    (row,) = event["payload"]["targets"]
    assert row["state"] == "running" and row["address"]
    assert _answers(row["address"]) == f"hello {dep_id}".encode()
    tasks = _task_runs(stack, run["id"], expect=1)
    assert "local" in tasks["deploy local:local"]["tags"]
    arts = {a["key"]: a for a in stack.artifacts(run["id"])}
    assert arts[f"deploy-{dep_id}-local-local-progress"]["data"] == 100.0
    assert json.loads(arts[f"deploy-{dep_id}"]["data"])[0]["state"] == "running"

    result, run = stack.run_deployment("destroy/by-hand", {"deployment_id": dep_id})
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
    (event,) = stack.events(run["id"], "specify-cloud.destroy.")
    assert event["event"] == "specify-cloud.destroy.completed"
    assert _answers(row["address"]) is None


def test_destroy_on_another_worker_touches_exactly_that_deployment(
    stack: Stack, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text(APP)
    gone, kept = f"e2e-a-{uuid.uuid4().hex[:6]}", f"e2e-b-{uuid.uuid4().hex[:6]}"
    addresses = {}
    for dep_id in (gone, kept):
        run = _deploy_local(stack, app, dep_id)
        (row,) = json.loads(
            next(a for a in stack.artifacts(run["id"]) if a["key"] == f"deploy-{dep_id}")["data"]
        )
        addresses[dep_id] = row["address"]
    # the record every worker reads
    record = stack.server.api("GET", f"/variables/name/specify-deployment-{gone}")
    assert record["value"]["deployment_id"] == gone
    assert [t["provider"] for t in record["value"]["targets"]] == ["local"]

    # another worker: its own state directory is empty, the cloud (local root) is shared
    other = stack.server.env(
        SPECIFY_LOCAL_ROOT=str(stack.local_root),
        SPECIFY_DEPLOY_STATE=str(tmp_path / "other-worker-state"),
    )
    code = (
        "import json, sys\n"
        "from flows.deploy import destroy\n"
        f"state = destroy({gone!r}, return_state=True)\n"
        "rows = state.result(raise_on_failure=False)\n"
        "print(json.dumps({'type': state.type.value, "
        "'targets': [f'{r.provider}:{r.region}' for r in getattr(rows, 'results', rows)]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=other,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=str(REPO_ROOT),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    # exactly the recorded target: no sweep of aws, gcp and azure
    assert outcome == {"type": "COMPLETED", "targets": ["local:local"]}, outcome
    assert _answers(addresses[gone]) is None
    assert _answers(addresses[kept]) == f"hello {kept}".encode()
    with pytest.raises(urllib.error.HTTPError):
        stack.server.api("GET", f"/variables/name/specify-deployment-{gone}")

    result, run = stack.run_deployment("destroy/by-hand", {"deployment_id": kept})
    assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
    assert _answers(addresses[kept]) is None


# --------------------------------------------------------------------------- automation
def test_the_documented_automation_notifies_on_a_cost_anomaly(stack: Stack) -> None:
    """docs/prefect.md's automation, created on the server with a webhook block that
    points at a local HTTP server: a cost-compare run's anomaly reaches it."""
    import http.server
    import threading

    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}/notify"
    docs = (REPO_ROOT / "docs" / "prefect.md").read_text()
    block = next(
        b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "cost-anomaly-notify" in b
    )
    code = f"""
import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
hook = CustomWebhookNotificationBlock(
    name="finops", url={url!r}, json_data={{"subject": "{{{{subject}}}}", "body": "{{{{body}}}}"}}
)
block_id = hook.save("e2e-finops-hook", overwrite=True)
data = yaml.safe_load({block!r})
data["actions"][0]["block_document_id"] = str(block_id)
with get_client(sync_client=True) as client:
    print(client.create_automation(AutomationCore.model_validate(data)))
"""
    made = subprocess.run(
        [sys.executable, "-c", code],
        env=stack.server.env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO_ROOT),
    )
    assert made.returncode == 0, made.stdout + made.stderr
    try:
        time.sleep(2)  # the triggers service loads new automations
        result, run = stack.run_deployment(
            "cost-compare/daily", {"start": "2026-08-01", "end": "2026-09-01", "sample": True}
        )
        assert run["state"]["type"] == "COMPLETED", result.stdout + result.stderr
        deadline = time.monotonic() + 90
        while not received and time.monotonic() < deadline:
            time.sleep(0.5)
        assert received, "the automation sent no notification"
        first = received[0]
        assert first["subject"].startswith("Cost anomaly: aws Amazon Elastic Compute Cloud")
        assert "USD" in first["body"] or "EUR" in first["body"] or "on 2026-08-" in first["body"]
    finally:
        hook.shutdown()
        automation_id = made.stdout.strip().splitlines()[-1]
        stack.server.api("DELETE", f"/automations/{automation_id}")
