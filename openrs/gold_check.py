"""`python -m openrs.gold_check`, kept for one release (removed in 0.2): the command is `openrs-gold-check`."""

import sys

if __name__ == "__main__":
    print("openrs: `python -m openrs.gold_check` is deprecated; run `openrs-gold-check`", file=sys.stderr)
    from openrs.grading.__main__ import main

    sys.exit(main())
