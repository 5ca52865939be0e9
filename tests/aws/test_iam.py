"""docs/iam/aws-policy.json, providers.aws.iam.CALLS and the code stay in sync."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from providers.aws import iam

ROOT = Path(__file__).resolve().parents[2]
AWS_DIR = ROOT / "providers" / "aws"
#: which service a receiver expression is a client of, per module
RECEIVERS = {
    "storage.py": {"self.client": "s3"},
    "metrics.py": {"self.client": "cloudwatch"},
    "logs.py": {"self.client": "logs"},
    "secrets.py": {"self.client": "secretsmanager"},
    "compute.py": {"self.client": "ec2", "self.ssm": "ssm"},
    "database.py": {"self.client": "rds"},
    "cost.py": {"self.client": "ce"},
    "session.py": {"sts": "sts"},
    "provider.py": {"self.client('sts')": "sts"},
}
NOT_CALLS = {"get_paginator", "meta", "exceptions"}


def calls_in_code() -> set[str]:
    found: set[str] = set()
    for module, receivers in RECEIVERS.items():
        tree = ast.parse((AWS_DIR / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                service = receivers.get(ast.unparse(node.value))
                if service and node.attr not in NOT_CALLS:
                    found.add(f"{service}.{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_paginator"
                and isinstance(node.args[0], ast.Constant)
            ):
                service = receivers.get(ast.unparse(node.func.value))
                if service:
                    found.add(f"{service}.{node.args[0].value}")
    return found


def test_every_call_in_the_code_has_its_permissions() -> None:
    found = calls_in_code()
    assert len(found) > 30  # the scan sees the service modules
    assert found - set(iam.CALLS) == set()


def test_no_permission_for_calls_the_code_no_longer_makes() -> None:
    unused = set(iam.CALLS) - calls_in_code() - {"kms.sse"}
    assert unused == set()


def test_policy_file_matches_the_list() -> None:
    on_disk = json.loads((ROOT / "docs" / "iam" / "aws-policy.json").read_text())
    assert on_disk == iam.policy_document(), (
        "regenerate: python -m providers.aws.iam > docs/iam/aws-policy.json"
    )
    actions = [a for s in on_disk["Statement"] for a in s["Action"]]
    assert sorted(actions) == list(iam.REQUIRED_ACTIONS)
    assert all(":" in a and "*" not in a for a in actions)
