"""Amazon Web Services provider: one module per service, `AWSProvider` in provider.py.

Importing this package does not import boto3.
"""

from providers.aws.provider import AWSProvider
from providers.aws.settings import AWSCredentials, AWSSettings

__all__ = ["AWSCredentials", "AWSProvider", "AWSSettings"]
