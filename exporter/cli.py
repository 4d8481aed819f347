"""Command line: flags > SAGEMAKER_EXPORTER_* environment > --config YAML > defaults.

A bad setting ends the program before anything starts, with one line naming every
problem and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from exporter import __version__
from exporter.config import ConfigError, Settings, build, from_env, from_file
from exporter.options import OPTIONS

PROG = "sagemaker-exporter"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus the error; one line is easier to find in pod logs.
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Prometheus exporter for AWS SageMaker training jobs.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    for opt in OPTIONS:
        flag = f"--{opt.name}"
        default = "" if opt.default in (None, [], "") else f" [default: {opt.default}]"
        help_text = f"{opt.help}{default} (env {opt.env})"
        if opt.kind == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif opt.kind == "list":
            p.add_argument(flag, action="append", metavar=opt.name.upper(), help=help_text)
        else:
            p.add_argument(
                flag, metavar=opt.name.upper(), help=help_text, choices=opt.choices or None
            )
    return p


def load_settings(argv: Sequence[str], environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ) if environ is None else environ
    flags: dict[str, Any] = {
        k.replace("_", "-"): v for k, v in vars(make_parser().parse_args(argv)).items()
    }
    env = from_env(environ)
    raw: dict[str, Any] = {}
    config_path = flags.get("config") or env.get("config")
    if config_path:
        raw.update(from_file(config_path))
    raw.update(env)
    raw.update(flags)
    return build(raw, environ, sys.stdout.isatty())


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from exporter.app import run

    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
