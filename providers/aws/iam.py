"""The IAM permissions this provider needs, from one table of the SDK calls it makes.

`docs/iam/aws-policy.json` is generated from this module:

    python -m providers.aws.iam > docs/iam/aws-policy.json

and tests/aws/test_iam.py checks that the file, this table and the code agree.
"""

from __future__ import annotations

import json
from typing import Any

#: "service.operation" as the code calls it (boto3 names, managed transfers included)
#: -> the IAM actions that call needs
CALLS: dict[str, tuple[str, ...]] = {
    # S3 (multipart uploads are covered by s3:PutObject; aborting one is its own action)
    "s3.create_bucket": ("s3:CreateBucket",),
    "s3.head_bucket": ("s3:ListBucket",),
    "s3.delete_bucket": ("s3:DeleteBucket",),
    "s3.put_bucket_versioning": ("s3:PutBucketVersioning",),
    "s3.get_bucket_versioning": ("s3:GetBucketVersioning",),
    # multipart uploads: every part and the completion are s3:PutObject in IAM
    "s3.create_multipart_upload": ("s3:PutObject",),
    "s3.upload_part": ("s3:PutObject",),
    "s3.complete_multipart_upload": ("s3:PutObject",),
    "s3.abort_multipart_upload": ("s3:AbortMultipartUpload",),
    "s3.put_object": ("s3:PutObject",),
    "s3.head_object": ("s3:GetObject", "s3:GetObjectVersion"),
    "s3.get_object": ("s3:GetObject",),
    "s3.list_objects_v2": ("s3:ListBucket",),
    "s3.list_object_versions": ("s3:ListBucketVersions",),
    "s3.delete_object": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "s3.copy": ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"),
    "s3.generate_presigned_url": ("s3:GetObject",),
    # server-side encryption with aws:kms
    "kms.sse": ("kms:GenerateDataKey", "kms:Decrypt"),
    # CloudWatch
    "cloudwatch.put_metric_data": ("cloudwatch:PutMetricData",),
    "cloudwatch.get_metric_data": ("cloudwatch:GetMetricData",),
    # CloudWatch Logs
    "logs.create_log_group": ("logs:CreateLogGroup",),
    "logs.create_log_stream": ("logs:CreateLogStream",),
    "logs.put_log_events": ("logs:PutLogEvents",),
    "logs.filter_log_events": ("logs:FilterLogEvents",),
    # Secrets Manager
    "secretsmanager.create_secret": ("secretsmanager:CreateSecret", "secretsmanager:TagResource"),
    "secretsmanager.describe_secret": ("secretsmanager:DescribeSecret",),
    "secretsmanager.put_secret_value": ("secretsmanager:PutSecretValue",),
    "secretsmanager.get_secret_value": ("secretsmanager:GetSecretValue",),
    "secretsmanager.list_secrets": ("secretsmanager:ListSecrets",),
    "secretsmanager.delete_secret": ("secretsmanager:DeleteSecret",),
    "secretsmanager.restore_secret": ("secretsmanager:RestoreSecret",),
    # EC2 (tags given at launch need ec2:CreateTags)
    "ec2.run_instances": ("ec2:RunInstances", "ec2:CreateTags"),
    "ec2.describe_instances": ("ec2:DescribeInstances",),
    "ec2.get_console_output": ("ec2:GetConsoleOutput",),
    "ec2.terminate_instances": ("ec2:TerminateInstances",),
    "ec2.describe_security_groups": ("ec2:DescribeSecurityGroups",),
    "ec2.create_security_group": ("ec2:CreateSecurityGroup", "ec2:CreateTags"),
    "ec2.authorize_security_group_ingress": ("ec2:AuthorizeSecurityGroupIngress",),
    "ec2.delete_security_group": ("ec2:DeleteSecurityGroup",),
    "ssm.get_parameter": ("ssm:GetParameter",),
    # RDS (tags at creation need rds:AddTagsToResource)
    "rds.create_db_instance": ("rds:CreateDBInstance", "rds:AddTagsToResource"),
    "rds.describe_db_instances": ("rds:DescribeDBInstances",),
    "rds.delete_db_instance": ("rds:DeleteDBInstance",),
    # Cost Explorer
    "ce.get_cost_and_usage": ("ce:GetCostAndUsage",),
    # STS: the artifact bucket is named after the account; assume_role_arn assumes a role
    "sts.get_caller_identity": ("sts:GetCallerIdentity",),
    "sts.assume_role": ("sts:AssumeRole",),
}

REQUIRED_ACTIONS: tuple[str, ...] = tuple(sorted({a for acts in CALLS.values() for a in acts}))


def policy_document() -> dict[str, Any]:
    """The minimal IAM policy, one statement per service."""
    services = sorted({a.split(":")[0] for a in REQUIRED_ACTIONS})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"SpecifyCloud{svc.capitalize()}",
                "Effect": "Allow",
                "Action": [a for a in REQUIRED_ACTIONS if a.startswith(f"{svc}:")],
                "Resource": "*",
            }
            for svc in services
        ],
    }


def render() -> str:
    return json.dumps(policy_document(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
