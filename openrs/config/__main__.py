"""`openrs-config` (or `python -m openrs.config`): print every config key with its type and meaning, written from
the schemas' field docstrings (openrs.config.keys); `openrs-config > conf/README.md` regenerates the reference."""

from __future__ import annotations

import argparse

from openrs.config.keys import reference


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="openrs-config", description=__doc__.split(":")[1].split(";")[0].strip())
    parser.parse_args(argv)
    print(reference(), end="")


if __name__ == "__main__":
    main()
