"""The process: flags > SAGEMAKER_EXPORTER_* environment > --config YAML > defaults, then
logging, the demo, and the exporter (exporter.app) served until SIGTERM/SIGINT, or --once.

A bad setting ends the program before anything starts, with one line naming every
problem and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any, NoReturn

import structlog

from exporter import __version__
from exporter.config import ConfigError, Settings, build, from_env, from_file
from exporter.options import OPTIONS
from exporter.web.server import Authenticator
from exporter.web.webconfig import server_options

PROG = "sagemaker-exporter"
# A small fixed pool for the little that runs off the event loop (gzip of store segments, DNS
# lookups, bcrypt checks). The default pool adds a thread whenever all of its threads are
# busy, up to min(32, cpus + 4), so a long-running exporter kept gaining threads, each with
# its own malloc arena, half an hour into a soak (bench/soak.py).
EXECUTOR_THREADS = 2


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
        # The first name decides argparse's dest: the option's own, whichever name is typed.
        names = [f"--{n}" for n in (opt.name, *opt.aliases)]
        default = "" if opt.default in (None, [], "") else f" [default: {opt.default}]"
        help_text = f"{opt.help}{default} (env {opt.env})"
        if opt.kind == "bool":
            p.add_argument(*names, action=argparse.BooleanOptionalAction, help=help_text)
        elif opt.kind == "list":
            p.add_argument(*names, action="append", metavar=opt.name.upper(), help=help_text)
        else:
            p.add_argument(
                *names, metavar=opt.name.upper(), help=help_text, choices=opt.choices or None
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
    return run(settings)


def configure_logging(level: str, fmt: str) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


async def serve(
    settings: Settings, ssl_context: Any = None, authenticator: Authenticator | None = None
) -> int:
    from exporter.app import Exporter

    log = structlog.get_logger("app")
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="exporter")
    )
    async with AsyncExitStack() as stack:
        demo = None
        if settings.demo:
            from exporter.demo import DemoEnvironment

            demo = DemoEnvironment(
                seed=settings.demo_seed, speed=settings.demo_speed, events=settings.demo_events
            )
            await asyncio.to_thread(demo.start)
            stack.callback(demo.stop)
            log.info("demo started", endpoint_url=demo.endpoint_url)
        exporter = await stack.enter_async_context(
            Exporter(settings, ssl_context, authenticator, demo)
        )
        keys = [t.key for t in exporter.plan.targets]
        if settings.once:
            failed = [
                (s, r)
                for s, r in zip(exporter.syncs, await exporter.poll_all(), strict=True)
                if not r.ok
            ]
            for s, r in failed:
                errors = ", ".join(f"{k} x{n}" for k, n in r.errors.items())
                print(f"{PROG}: error: poll of {s.key} failed: {errors}", file=sys.stderr)
            if failed:
                return 1
            await exporter.poll_cloudwatch()
            sys.stdout.buffer.write(exporter.exposition())
            sys.stdout.flush()
            return 0

        server = await exporter.start_http()
        log.info(
            "listening",
            address=f"{settings.listen_host or '0.0.0.0'}:{server.port}",
            targets=keys,
            tls=ssl_context is not None,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await exporter.run(stop)
        log.info("stopping")
    log.info("stopped")
    return 0


def run(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    if settings.demo:
        try:
            import moto.server  # noqa: F401
        except ImportError:
            print(
                "sagemaker-exporter: error: --demo needs the demo extra: "
                "pip install 'sagemaker-training-exporter[demo]'",
                file=sys.stderr,
            )
            return 2
    try:
        ssl_context, authenticator = server_options(settings.web_config_file)
    except Exception as exc:  # any problem with the file is a configuration error
        print(f"sagemaker-exporter: error: --web-config-file: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings, ssl_context, authenticator))
    except OSError as exc:  # e.g. the listen port is taken
        print(f"sagemaker-exporter: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
