"""``roadwatch watchlist add|list|remove|import`` and ``roadwatch alerts list``: the shared
watchlist and the recent alerts, in the gallery's Redis."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import yaml

from alerts.watchlist import WatchEntry, WatchlistError, WatchlistStore
from gallery.connect import open_redis
from gallery.store import GalleryUnavailableError
from roadwatch.app import watch_entry
from roadwatch.cli.common import EXIT_OK, config_or_default
from roadwatch.errors import CliError

_KINDS = {
    "plate": "plate",
    "regex": "plate_regex",
    "fuzzy": "plate_fuzzy",
    "identity": "identity",
    "type": "vehicle_type",
    "colour": "colour",
}


def add_alert_commands(commands: Any) -> None:
    """``roadwatch watchlist ...`` and ``roadwatch alerts ...``."""
    watchlist = commands.add_parser("watchlist", help="the shared watchlist (in the gallery's Redis)")
    actions = watchlist.add_subparsers(title="actions")

    add = actions.add_parser("add", help="add (or replace) an entry")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--plate", help="a plate, exactly (spaces and dashes ignored)")
    what.add_argument("--regex", help="a regular expression the whole plate must match")
    what.add_argument("--fuzzy", help="a plate within --max-distance (OCR confusions cost 0.5)")
    what.add_argument("--identity", help="a gallery identity id")
    what.add_argument("--type", help="a vehicle class, e.g. truck")
    what.add_argument("--colour", help="a colour, e.g. red")
    add.add_argument("--max-distance", type=float, default=1.0, help="for --fuzzy (default 1)")
    add.add_argument("--note", default="", help="shown with the alert")
    add.add_argument("--severity", default="warning", choices=("info", "warning", "critical"))
    add.add_argument("--id", help="entry id (default: derived from what is matched)")
    _common(add)
    add.set_defaults(handler=cmd_add)

    show = actions.add_parser("list", help="every entry")
    _common(show)
    show.set_defaults(handler=cmd_list)

    remove = actions.add_parser("remove", help="remove entries by id")
    remove.add_argument("ids", nargs="+", help="entry ids (see watchlist list)")
    _common(remove)
    remove.set_defaults(handler=cmd_remove)

    load = actions.add_parser(
        "import", help="add entries from a CSV (match,value,note,severity,max_distance,id) or YAML/JSON list"
    )
    load.add_argument("file", type=Path, help="CSV with a header row, or YAML/JSON like alerts.watchlist")
    _common(load)
    load.set_defaults(handler=cmd_import)

    alerts = commands.add_parser("alerts", help="recent alerts (the Redis stream <namespace>:alerts)")
    alert_actions = alerts.add_subparsers(title="actions")
    recent = alert_actions.add_parser("list", help="the latest alerts, newest last")
    recent.add_argument("--count", type=int, default=20, help="how many (default 20)")
    _common(recent)
    recent.set_defaults(handler=cmd_alerts)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="config file (its gallery section names the Redis)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")


def _redis(args: argparse.Namespace) -> tuple[Any, str]:
    cfg = config_or_default(args.config)
    try:
        return open_redis(cfg.gallery), cfg.gallery.namespace
    except GalleryUnavailableError as exc:
        raise CliError(str(exc)) from None


def _store(args: argparse.Namespace) -> WatchlistStore:
    client, namespace = _redis(args)
    return WatchlistStore(client, namespace)


def _print_entries(entries: list[WatchEntry], json_mode: bool, **extra: Any) -> None:
    if json_mode:
        print(json.dumps({**extra, "entries": [e.to_dict() for e in entries]}, ensure_ascii=False))
        return
    for e in entries:
        distance = f" (within {e.max_distance:g})" if e.match == "plate_fuzzy" else ""
        print(f"{e.id:<12} {e.severity:<8} {e.match:<12} {e.value}{distance}  {e.note}")


def cmd_add(args: argparse.Namespace) -> int:
    """``roadwatch watchlist add``."""
    given = [(flag, value) for flag, value in vars(args).items() if flag in _KINDS and value is not None]
    flag, value = given[0]
    try:
        entry = WatchEntry.make(
            _KINDS[flag],
            str(value),
            note=args.note,
            severity=args.severity,
            max_distance=args.max_distance,
            entry_id=args.id,
        )
    except WatchlistError as exc:
        raise CliError(str(exc)) from None
    _store(args).add([entry])
    _print_entries([entry], args.json, added=1)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """``roadwatch watchlist list``."""
    try:
        entries = _store(args).entries()
    except WatchlistError as exc:
        raise CliError(str(exc)) from None
    _print_entries(entries, args.json, count=len(entries))
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    """``roadwatch watchlist remove``."""
    store = _store(args)
    removed = [i for i in args.ids if store.remove(i)]
    missing = [i for i in args.ids if i not in removed]
    if args.json:
        print(json.dumps({"removed": removed, "missing": missing}))
    else:
        absent = f"; not on the watchlist: {', '.join(missing)}" if missing else ""
        print(f"removed {len(removed)}{absent}")
    return EXIT_OK


def read_entries(path: Path) -> list[WatchEntry]:
    """Entries of a CSV file (header ``match,value[,note,severity,max_distance,id]``) or of a
    YAML/JSON list in the config's form (``- {plate: AB123CD, note: stolen}``).

    Raises:
        CliError: The file cannot be read, or a row is bad (naming its line or index).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None
    entries = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or not {"match", "value"} <= set(reader.fieldnames):
            raise CliError(f"{path}: a CSV watchlist needs a header row with match and value columns")
        for line, row in enumerate(reader, start=2):
            try:
                fields = {k: v for k, v in row.items() if k and v not in (None, "")}
                entries.append(WatchEntry.from_dict(fields))
            except WatchlistError as exc:
                raise CliError(f"{path}:{line}: {exc}") from None
        return entries
    from pydantic import ValidationError

    from config.alerts import WatchlistEntry

    try:
        items = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{path}: not YAML or JSON: {exc}") from None
    if not isinstance(items, list):
        raise CliError(f"{path}: expected a list of entries")
    for i, item in enumerate(items):
        try:
            config = WatchlistEntry.model_validate(item)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise CliError(f"{path}: entry [{i}]{'.' + where if where else ''}: {problem['msg']}") from None
        try:
            entries.append(watch_entry(config))
        except WatchlistError as exc:
            raise CliError(f"{path}: entry [{i}]: {exc}") from None
    return entries


def cmd_import(args: argparse.Namespace) -> int:
    """``roadwatch watchlist import``."""
    entries = read_entries(args.file)
    written = _store(args).add(entries)
    if args.json:
        print(json.dumps({"imported": written}))
    else:
        print(f"imported {written} entries from {args.file}")
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    """``roadwatch alerts list``."""
    if args.count < 1:
        raise CliError(f"--count must be >= 1, got {args.count}")
    client, namespace = _redis(args)
    alerts = []
    for entry_id, fields in client.xrevrange(f"{namespace}:alerts", count=args.count)[::-1]:
        try:
            alerts.append(json.loads(fields.get(b"alert") or fields["alert"]))
        except (KeyError, ValueError):
            raise CliError(f"{namespace}:alerts entry {entry_id!r} is not an alert event") from None
    if args.json:
        print(json.dumps({"count": len(alerts), "alerts": alerts}, ensure_ascii=False))
    else:
        for a in alerts:
            print(f"{a['camera']:<10} {a['time']:9.1f} s  {a['severity']:<8} {a['message']}")
    return EXIT_OK
