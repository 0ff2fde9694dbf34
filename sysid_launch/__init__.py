"""The `sysid` console script's entry point, outside the `sysid` package so that importing it
(mujoco, scipy, matplotlib: about two seconds) can be interrupted quietly: Ctrl-C then exits
with 130 and one line, not a traceback. SIGTERM's default action already ends it quietly."""

import sys


def main() -> int:
    """Import `sysid.cli` and run its `main`."""
    try:
        from sysid.cli import main as run

        return run()
    except KeyboardInterrupt:  # sysid.cli's main handles it once running; this is the import before it
        print("sysid: interrupted", file=sys.stderr)
        return 130
