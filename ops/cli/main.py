"""`signage`: the single operator entry point.

    signage up              the whole stack (embedded PostgreSQL/Redis unless URLs are set)
    signage migrate         apply migrations (or --downgrade REV)
    signage create-admin    create a console account
    signage api | edge | worker | scheduler   run one process (what containers run)
    signage check-config    say why the settings are unsafe for production
    signage simulate        drive a running stack with simulated players (see --help)
    signage pop-rebuild     rebuild (or --verify-only) proof-of-play aggregates for a date range

Exit codes: 0 success, 1 the command failed, 2 unusable configuration or arguments.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Callable, Sequence

from core.config import InsecureConfigError, InvalidConfigError, Settings, read_settings
from core.db.enums import Role
from core.logging import configure_logging
from ops import pop_rebuild

Handler = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signage", description="alive-signage control plane")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the whole stack in the foreground")
    seeding = up.add_mutually_exclusive_group()
    seeding.add_argument(
        "--seed",
        dest="seed",
        action="store_true",
        default=None,
        help="seed the demo even in production mode",
    )
    seeding.add_argument(
        "--no-seed", dest="seed", action="store_false", help="do not seed the demo"
    )
    up.add_argument("--worker-processes", type=int, default=1)
    up.add_argument("--worker-threads", type=int, default=2)
    up.set_defaults(handler=_up)

    migrate = commands.add_parser("migrate", help="upgrade the database to the latest schema")
    migrate.add_argument("--revision", default="head", help="upgrade target (default: head)")
    migrate.add_argument("--downgrade", metavar="REV", help="downgrade to REV instead")
    migrate.set_defaults(handler=_migrate)

    admin = commands.add_parser("create-admin", help="create a console account")
    admin.add_argument("--email", required=True)
    secret = admin.add_mutually_exclusive_group()
    secret.add_argument("--password", help="visible in the process list; prefer --password-stdin")
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    admin.add_argument("--role", choices=[role.value for role in Role], default=Role.ADMIN.value)
    admin.set_defaults(handler=_create_admin)

    for kind, text in (
        ("api", "the admin GraphQL API (uvicorn)"),
        ("edge", "the device edge (uvicorn)"),
        ("worker", "the Dramatiq worker"),
        ("scheduler", "the periodic scheduler"),
    ):
        one = commands.add_parser(
            kind, help=f"run {text}", description=f"Run {text}; extra arguments are passed on."
        )
        one.set_defaults(handler=_run_one, kind=kind, passthrough=True)

    check = commands.add_parser("check-config", help="explain what is unsafe for production")
    check.set_defaults(handler=_check_config)
    pop_rebuild.add_arguments(commands)

    # The simulator parses its own arguments (and --help) in its own process: it is another
    # entrypoint, which this one does not import.
    simulate = commands.add_parser(
        "simulate", add_help=False, help="drive a running stack with simulated players"
    )
    simulate.set_defaults(handler=_simulate, passthrough=True)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse; `api`/`edge`/`worker`/`scheduler` pass unknown arguments on to their process."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.extra = unknown[1:] if unknown[:1] == ["--"] else unknown
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen
    args = parse_args(argv)
    try:
        settings = read_settings()
    except InvalidConfigError as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json=settings.log_json)
    handler: Handler = args.handler
    if handler not in (_check_config, _simulate):  # the simulator is only an HTTP client
        try:
            settings.ensure_safe()
        except InsecureConfigError as exc:
            print(f"signage: {exc}", file=sys.stderr)
            return 2
    return handler(args, settings)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from ops.cli.infra import ServiceUnavailable
    from ops.cli.stack import PortInUse, UpOptions, run_up

    options = UpOptions(args.seed, args.worker_processes, args.worker_threads)
    try:
        return run_up(settings, options)
    except (ServiceUnavailable, PortInUse) as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 1


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from core.db.migrations import downgrade, upgrade
    from ops.cli.infra import ServiceUnavailable, services_for

    try:
        with services_for(settings, need_redis=False) as services:
            if args.downgrade:
                downgrade(services.database_url, args.downgrade)
                print(f"signage: downgraded to {args.downgrade}")
            else:
                upgrade(services.database_url, args.revision)
                print(f"signage: upgraded to {args.revision}")
    except ServiceUnavailable as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 1
    return 0


def _create_admin(args: argparse.Namespace, settings: Settings) -> int:
    from ops.cli.admin import UserExists, UserInputError, read_password, run_create_admin
    from ops.cli.infra import ServiceUnavailable, services_for

    try:
        password = read_password(given=args.password, from_stdin=args.password_stdin)
        with services_for(settings, need_redis=False) as services:
            user = run_create_admin(
                services.database_url, email=args.email, password=password, role=Role(args.role)
            )
    except (UserInputError, UserExists, ServiceUnavailable) as exc:
        print(f"signage: {exc}", file=sys.stderr)
        return 1
    print(f"signage: created {args.role} {user.email} (id {user.id})")
    return 0


def _run_one(args: argparse.Namespace, settings: Settings) -> int:
    from ops.cli.processes import metrics_environment, process_argv

    urls = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    missing = [name for name, value in urls.items() if not value]
    if missing:
        print(
            f"signage: {' and '.join(missing)} must be set to run {args.kind} alone "
            "(`signage up` runs the whole stack on embedded servers)",
            file=sys.stderr,
        )
        return 2
    argv = process_argv(args.kind, settings, args.extra)
    os.environ.update(metrics_environment(args.kind, os.environ))
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - replace this process so signals reach the server
    return 0  # pragma: no cover - execv does not return


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    """`python -m simulator` with the remaining arguments, its exit code ours."""
    sys.stdout.flush()
    argv = [sys.executable, "-m", "simulator", *args.extra]
    return subprocess.run(argv, check=False).returncode  # noqa: S603 - our own interpreter


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    """Every reason the settings are unsafe for production; exit 1 when this environment
    refuses to start with them (production: any reason; test: the built-in secrets)."""
    reasons = settings.insecure_reasons()
    if not reasons:
        print(f"signage: configuration is safe for production (SIGNAGE_ENV={settings.env.value})")
        return 0
    refused = settings.refusal_reasons()
    env = settings.env.value
    if refused:
        print(f"signage: refusing to run in {env} (SIGNAGE_ENV={env}):")
        for reason in refused:
            print(f"  - {reason}")
    others = [reason for reason in reasons if reason not in refused]
    if others:
        print(f"signage: unsafe for production (SIGNAGE_ENV={env}):")
        for reason in others:
            print(f"  - {reason}")
    return 1 if refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
