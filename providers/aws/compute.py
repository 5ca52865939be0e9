"""Amazon EC2 as CloudCompute: run, wait, describe, list by tag, console output, terminate."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from providers.aws.adapter import AWSAdapter, client_error_code
from providers.base import Instance, InstanceSpec
from providers.errors import DeploymentError, NotFoundError
from providers.operation import cloud_operation
from providers.waiting import wait_for_state

#: Amazon Linux 2023, resolved through the public SSM parameter in the instance's region
DEFAULT_IMAGE = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
NAME_TAG = "Name"
LIVE_STATES = ("pending", "running", "stopping", "stopped")


def _tags(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


class EC2Compute(AWSAdapter):
    """EC2 instances in one region."""

    service_name = "ec2"

    def __init__(
        self,
        client: Any,
        ssm_client: Any = None,
        *,
        region: str = "",
        default_image: str | None = None,
        default_instance_type: str = "t3.micro",
        poll_interval: float = 2.0,
    ) -> None:
        self.client = client
        self.ssm = ssm_client
        self.region = region
        self.default_image = default_image or DEFAULT_IMAGE
        self.default_instance_type = default_instance_type
        self.poll_interval = poll_interval

    @property
    def location(self) -> str:
        return f"ec2/{self.region}"

    def not_found_hint(self, code: str | None) -> str:
        if code and code.startswith("InvalidAMIID"):
            return "Check the AMI id; AMIs are per region"
        if code == "ParameterNotFound":
            return "Check the SSM parameter name of the image alias in this region"
        return "Check the instance id and the region"

    # -- helpers -----------------------------------------------------------------------
    def _instance(self, raw: dict[str, Any]) -> Instance:
        tags = _tags(raw.get("Tags"))
        return Instance(
            instance_id=raw["InstanceId"],
            name=tags.get(NAME_TAG, raw["InstanceId"]),
            state=raw.get("State", {}).get("Name", "pending"),
            provider="aws",
            region=self.region,
            instance_type=raw.get("InstanceType"),
            public_address=raw.get("PublicIpAddress") or raw.get("PublicDnsName") or None,
            private_address=raw.get("PrivateIpAddress"),
            tags=tags,
            launched_at=raw.get("LaunchTime"),
        )

    @cloud_operation("resolve_image", kind=DeploymentError, resource="image")
    def resolve_image(self, image: str) -> str:
        """An AMI id from an AMI id, `resolve:ssm:/path` or an SSM parameter path."""
        if image.startswith("ami-"):
            return image
        name = image.removeprefix("resolve:ssm:")
        if not name.startswith("/"):
            raise DeploymentError(
                f"'{image}' is neither an AMI id nor an SSM parameter",
                provider="aws",
                operation="resolve_image",
                hint="Use ami-..., or an SSM path such as "
                "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            )
        return str(self.ssm.get_parameter(Name=name)["Parameter"]["Value"])

    @cloud_operation("ensure_security_group", kind=DeploymentError, mutating=True, resource="name")
    def ensure_security_group(
        self, name: str, port: int, tags: Mapping[str, str] | None = None
    ) -> str:
        """A security group called name open on TCP port (created when missing)."""
        found = self.client.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [name]}]
        )["SecurityGroups"]
        if found:
            group_id = str(found[0]["GroupId"])
        else:
            spec = [
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
                }
            ]
            group_id = str(
                self.client.create_security_group(
                    GroupName=name,
                    Description=f"specify-cloud {name}",
                    TagSpecifications=spec if tags else [],
                )["GroupId"]
            )
        try:
            self.client.authorize_security_group_ingress(
                GroupId=group_id,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": port,
                        "ToPort": port,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "specify-cloud"}],
                    }
                ],
            )
        except Exception as exc:
            if client_error_code(exc) != "InvalidPermission.Duplicate":
                raise
        return group_id

    # -- protocol ----------------------------------------------------------------------
    @cloud_operation("create_instance", kind=DeploymentError, mutating=True, resource="spec")
    def create_instance(self, spec: InstanceSpec, *, client_token: str | None = None) -> Instance:
        """Run one instance; with spec.port, in a security group open on that port.

        client_token makes the call idempotent on EC2's side (same token, same instance).
        """
        tags = {NAME_TAG: spec.name, **spec.tags}
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        args: dict[str, Any] = {
            "ImageId": self.resolve_image(spec.image or self.default_image),
            "InstanceType": spec.instance_type or self.default_instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list},
                {"ResourceType": "volume", "Tags": tag_list},
            ],
        }
        if spec.user_data:
            args["UserData"] = spec.user_data
        if spec.port:
            args["SecurityGroupIds"] = [
                self.ensure_security_group(f"{spec.name}-sg", spec.port, spec.tags)
            ]
        if client_token:
            args["ClientToken"] = client_token[:64]
        raw = self.client.run_instances(**args)["Instances"][0]
        return self._instance(raw)

    @cloud_operation("get_instance", kind=DeploymentError, resource="instance_id")
    def get_instance(self, instance_id: str) -> Instance:
        reservations = self.client.describe_instances(InstanceIds=[instance_id])["Reservations"]
        for reservation in reservations:
            for raw in reservation.get("Instances", []):
                return self._instance(raw)
        raise NotFoundError(
            "no such instance",
            provider="aws",
            operation="get_instance",
            resource=instance_id,
            hint=self.not_found_hint(None),
        )

    @cloud_operation("list_instances", kind=DeploymentError, resource=None)
    def list_instances(
        self, tags: Mapping[str, str] | None = None, *, include_terminated: bool = False
    ) -> list[Instance]:
        """Instances carrying every given tag (terminated ones only when asked)."""
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in (tags or {}).items()]
        if not include_terminated:
            filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})
        out: list[Instance] = []
        for page in self.client.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                out.extend(self._instance(raw) for raw in reservation.get("Instances", []))
        return out

    @cloud_operation("wait_until_running", kind=DeploymentError, resource="instance_id")
    def wait_until_running(self, instance_id: str, timeout: float = 300.0) -> Instance:
        """Poll until running; DeploymentError when it stops, terminates or times out."""
        return wait_for_state(
            lambda: self.get_instance(instance_id),
            lambda i: i.state,
            ready="running",
            failed={"terminated", "shutting-down", "stopped", "stopping"},
            timeout=timeout,
            poll_interval=self.poll_interval,
            provider="aws",
            operation="wait_until_running",
            resource=instance_id,
            noun="instance",
            where=f" (region {self.region})",
            failed_hint="Read its console output (get_output) to see why it stopped",
            timeout_hint="Raise the timeout or check the instance in the EC2 console",
        )

    @cloud_operation("get_output", kind=DeploymentError, resource="instance_id")
    def get_output(self, instance_id: str) -> str:
        raw = self.client.get_console_output(InstanceId=instance_id).get("Output") or ""
        try:
            return base64.b64decode(raw).decode("utf-8", "replace")
        except ValueError:
            return str(raw)

    @cloud_operation(
        "terminate_instance", kind=DeploymentError, mutating=True, resource="instance_id"
    )
    def terminate_instance(self, instance_id: str) -> bool:
        """Terminate; False when the instance does not exist or was already terminated."""
        try:
            current = self.get_instance(instance_id)
        except NotFoundError:
            return False
        if current.state == "terminated":
            return False
        self.client.terminate_instances(InstanceIds=[instance_id])
        return True

    @cloud_operation("delete_security_groups", kind=DeploymentError, mutating=True, resource=None)
    def delete_security_groups(self, tags: Mapping[str, str]) -> int:
        """Delete the security groups carrying every given tag; returns how many."""
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
        groups = self.client.describe_security_groups(Filters=filters)["SecurityGroups"]
        for group in groups:
            self.client.delete_security_group(GroupId=group["GroupId"])
        return len(groups)
