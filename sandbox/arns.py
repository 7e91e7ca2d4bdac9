"""How the sandbox reads role ARNs and regions, as AWS does. Written apart from the
portal's own parser (core.arns): a stand-in that shared it could not catch its bugs."""

from dataclasses import dataclass

# AWS caps a session assumed with another role session's credentials (role chaining) at
# one hour, whatever DurationSeconds asks for.
CHAINED_SESSION_SECONDS = 3600
PARTITIONS = ("aws", "aws-us-gov", "aws-cn")


@dataclass(frozen=True)
class Role:
    partition: str
    account_id: str
    name: str


def role_of(arn):
    """The parts of arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, or None for anything else."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) != 6 or (parts[0], parts[2], parts[3]) != ("arn", "iam", ""):
        return None
    partition, account, resource = parts[1], parts[4], parts[5]
    if partition not in PARTITIONS or len(account) != 12 or not account.isdigit():
        return None
    if not resource.startswith("role/"):
        return None
    name = resource.rsplit("/", 1)[-1]
    return Role(partition, account, name) if name else None


def partition_of(region):
    """The partition of a region: China's and GovCloud's have their own."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
