"""`signage worker`: Dramatiq's own command line, with our logging in its parent process too.

Dramatiq's parent process (it forks the worker processes, restarts them and relays their
output) sets up logging in its own text format before any of our code runs, so with
LOG_JSON=true its lifecycle lines ("booting up", signals, a worker that died) were the only
ones that were not JSON and not redacted. Here LOG_LEVEL/LOG_JSON and redaction are set up
first and Dramatiq is told to leave logging alone (`--skip-logging`); each worker process
sets itself up again when it boots (`workers.broker.ProcessLogging`), writing into the pipe
Dramatiq relays. Each worker process also stops by itself if this parent is killed
(`workers.leader_watch`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dramatiq.cli import main as dramatiq_main
from dramatiq.cli import make_argument_parser

from core.config import InvalidConfigError, read_settings
from core.logging import configure_logging


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = read_settings()
    except InvalidConfigError as exc:
        print(f"signage worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json=settings.log_json)
    args = make_argument_parser().parse_args(list(argv) if argv is not None else sys.argv[1:])
    args.skip_logging = True
    return int(dramatiq_main(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
