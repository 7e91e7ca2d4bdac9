"""IAM role ARNs and AWS partitions: how the portal reads them, in one place.

A grant's role ARN is parsed here once (`RoleArn.parse`), and everything else — issuance,
the console's domains, the account a role lives in, the audit trail's columns — reads the
parts. The sandbox reads ARNs with a parser of its own, so it can catch this one's bugs.
"""

import re
from dataclasses import dataclass

ROLE_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws|aws-us-gov|aws-cn):iam::(?P<account>\d{12}):"
    r"role/(?P<path>(?:[\x21-\x7e]+/)*)?(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)


@dataclass(frozen=True)
class RoleArn:
    """An IAM role's ARN and its parts: partition, account id and name (without its path)."""

    arn: str
    partition: str
    account_id: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> "RoleArn":
        """Raises ValueError, with what a role ARN looks like, for anything else."""
        found = cls.read(arn)
        if found is None:
            raise ValueError(
                "Enter an IAM role ARN such as arn:aws:iam::123456789012:role/Name "
                "(partition aws, aws-us-gov or aws-cn)."
            )
        return found

    @classmethod
    def read(cls, arn: str) -> "RoleArn | None":
        """The parts of a role ARN, or None for anything else (what a record names)."""
        match = ROLE_ARN_RE.match(arn or "")
        if not match:
            return None
        return cls(arn, match["partition"], match["account"], match["name"])


def partition_of_region(region: str) -> str:
    """The partition a region belongs to ("cn-north-1" → "aws-cn")."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"
