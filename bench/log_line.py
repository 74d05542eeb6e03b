"""CPU of one access-log line, the one `observability.http_metrics` writes for every request,
through the real logging setup (`configure_logging`: structlog, the redaction, the renderer) into
/dev/null, at INFO as a deployment runs: written directly (`observability.access_line`), as a
served process does, or with `--standard` through structlog and standard logging as any other
line.

    python bench/log_line.py [--lines 20000] [--format json|console] [--standard]

Prints microseconds of process CPU a line, best of three rounds (docs/performance.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import structlog

from ragops.config import Settings
from ragops.observability.context import request_id_var
from ragops.observability.http_metrics import access_logger
from ragops.observability.logging import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--format", choices=("json", "console"), default="json")
    parser.add_argument("--standard", action="store_true", help="through standard logging")
    args = parser.parse_args()
    if args.lines < 1:
        raise SystemExit("error: --lines must be >= 1")
    configure_logging(Settings(log_level="INFO", log_format=args.format))
    sink = open(os.devnull, "w")  # noqa: SIM115 (held for the whole run)
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "ragops" and isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    request_id = "0f3c2a0d9b7e4c1a8f6e5d4c3b2a1908"
    request_id_var.set(request_id)
    logger = structlog.get_logger("ragops.access") if args.standard else access_logger
    rounds = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(args.lines):
            logger.info(
                "request",
                method="POST",
                route="/v1/chat",
                status=200,
                duration_ms=12.34,
                request_id=request_id,
            )
        rounds.append((time.process_time() - started) / args.lines * 1e6)
    way = "standard logging" if args.standard else "direct"
    print(f"{args.format}, {way}: {min(rounds):.1f} us of CPU an access-log line (best of 3)")


if __name__ == "__main__":
    main()
