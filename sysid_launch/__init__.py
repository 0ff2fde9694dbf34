"""The `sysid` console script's entry point, outside the `sysid` package so that importing it
(mujoco, scipy, matplotlib: about two seconds) can be interrupted quietly: Ctrl-C then exits
with 130 and one line, not a traceback. SIGTERM's default action already ends it quietly."""

import os
import signal
import sys


def main() -> int:
    """Import `sysid.cli` and run its `main` (which handles signals itself once running)."""
    stopped = []

    def stop(signum, frame):
        stopped.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    try:
        from sysid.cli import main as run
    except BaseException:
        if not stopped:
            raise
        # An interrupt inside an import can surface as another error (numpy wraps it in an ImportError).
        print("sysid: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)  # not a normal exit: the interpreter would re-raise SIGINT on its way out
    return run()
