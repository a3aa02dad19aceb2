"""The ``roadwatch`` command line: one module per command group, assembled here.

Every command that computes results accepts ``--json`` and then prints one JSON object as
the last line of stdout. Problems a user can fix print one line ``roadwatch: error: ...``
on stderr and exit with status 2 (bad arguments or config) or 1 (a source failed).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from config import ConfigError
from roadwatch import __version__
from roadwatch.cli.alerts import add_alert_commands
from roadwatch.cli.common import EXIT_OK, EXIT_USAGE
from roadwatch.cli.demo import add_demo_command
from roadwatch.cli.detect import add_detect_commands
from roadwatch.cli.gallery import add_gallery_commands
from roadwatch.cli.plates import add_plate_commands
from roadwatch.cli.reid import add_reid_commands
from roadwatch.cli.run import add_pipeline_bench, add_run_commands
from roadwatch.cli.serve import add_serve_command
from roadwatch.cli.synth import add_synth_commands
from roadwatch.cli.video import add_video_commands
from roadwatch.errors import CliError
from streams import SourceUnavailableError

log = logging.getLogger("roadwatch")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roadwatch`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="roadwatch: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if args.log_json:
        from roadwatch.logjson import use_json_logs

        use_json_logs()
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"roadwatch: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return EXIT_OK
    except (CliError, SourceUnavailableError, OSError) as exc:
        print(f"roadwatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roadwatch", description="Traffic camera analytics.")
    parser.add_argument("--version", action="version", version=f"roadwatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines on stderr")
    commands = parser.add_subparsers(title="commands")
    add_run_commands(commands)
    add_demo_command(commands)
    benches = add_synth_commands(commands)
    groups = add_reid_commands(commands, benches)
    add_detect_commands(commands, groups, benches)
    add_gallery_commands(commands, benches)
    add_plate_commands(commands, groups, benches)
    add_video_commands(groups)
    add_alert_commands(commands)
    add_serve_command(commands, benches)
    add_pipeline_bench(benches)
    return parser
