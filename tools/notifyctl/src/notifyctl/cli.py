"""`notifyctl`: argument parsing and dispatch to one function per command."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog="notifyctl", description="Operate the notification fleet.")


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0
