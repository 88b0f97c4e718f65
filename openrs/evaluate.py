"""`python -m openrs.evaluate`, kept for one release (removed in 0.2): the command is `openrs-evaluate`."""

import sys

if __name__ == "__main__":
    print("openrs: `python -m openrs.evaluate` is deprecated; run `openrs-evaluate`", file=sys.stderr)
    from openrs.evaluation.__main__ import main

    main()
