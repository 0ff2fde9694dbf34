"""`python -m sysid_launch ...` runs the `sysid` command."""

import sys

from sysid_launch import main

sys.exit(main())
