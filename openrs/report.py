"""`python -m openrs.report`, kept for one release (removed in 0.2): the command is `openrs-report`."""

import sys

if __name__ == "__main__":
    print("openrs: `python -m openrs.report` is deprecated; run `openrs-report`", file=sys.stderr)
    from openrs.tracking.__main__ import report

    report()
