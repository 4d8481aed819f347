"""python -m fake_aws --help: the fake AWS server as a process (see fake_aws.cli)."""

import sys

from fake_aws.cli import run

sys.exit(run())
