"""`python -m openrs.config.reference`, kept for one release (removed in 0.2): the command is
`openrs-config`."""

import sys

if __name__ == "__main__":
    print("openrs: `python -m openrs.config.reference` is deprecated; run `openrs-config`", file=sys.stderr)
    from openrs.config.__main__ import main

    main()
