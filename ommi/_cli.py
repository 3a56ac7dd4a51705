"""The ``ommi`` command: inspect and evolve a database's schema, check a connection.

Exit codes: 0 success (and, for ``schema diff``, no differences); 1 ``schema diff``
found differences; 2 usage error; 3 the database could not be reached or
refused an operation; 4 ``schema sync`` refused destructive changes.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Sequence

from ommi import errors
from ommi._model import ModelCollection, default_collection
from ommi._session import Ommi
from ommi.driver import CAPABILITIES, parse_url

__all__ = ["main"]

EXIT_OK, EXIT_DIFFERENT, EXIT_USAGE, EXIT_DATABASE, EXIT_REFUSED = 0, 1, 2, 3, 4

DESTRUCTIVE = ("add_required_column", "drop_column", "retype_column", "change_nullability", "change_key")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ommi",
        description="Inspect and evolve the schema of an ommi database.",
        epilog="Exit codes: 0 ok, 1 differences found (schema diff), 2 usage error, "
        "3 database error, 4 destructive changes refused (schema sync).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def url_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=None, help="database URL (default: $OMMI_DATABASE_URL)")

    def models_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--models", required=True, action="append", metavar="MODULE[:COLLECTION]",
            help="module defining the models (repeatable); ':NAME' picks a ModelCollection "
            "attribute of the module, otherwise the default collection is used",
        )

    check = commands.add_parser("check", help="connect, print the server version and the driver's capabilities")
    url_option(check)

    schema = commands.add_parser("schema", help="compare models with the database, or apply the difference")
    actions = schema.add_subparsers(dest="action", required=True, metavar="ACTION")
    diff = actions.add_parser("diff", help="list differences between the models and the database")
    url_option(diff)
    models_option(diff)
    sync = actions.add_parser("sync", help="apply the safe differences (and the destructive kinds you --allow)")
    url_option(sync)
    models_option(sync)
    sync.add_argument(
        "--allow", action="append", default=[], choices=DESTRUCTIVE,
        help="also apply destructive changes of this kind (repeatable)",
    )
    sync.add_argument("--dry-run", action="store_true", help="only show what would be applied")
    return parser


class _UsageError(Exception):
    pass


def _collection(specs: Sequence[str]) -> ModelCollection:
    chosen: ModelCollection | None = None
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise _UsageError(f"cannot import models module {module_name!r}: {exc}") from exc
        if attr:
            found = getattr(module, attr, None)
            if not isinstance(found, ModelCollection):
                raise _UsageError(f"{module_name}.{attr} is not a ModelCollection")
            chosen = found
    return chosen or default_collection


async def _run(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("OMMI_DATABASE_URL")
    if not url:
        print("ommi: no database URL: pass --url or set OMMI_DATABASE_URL", file=sys.stderr)
        return EXIT_USAGE
    shown = parse_url(url).render()
    collection = _collection(args.models) if args.command == "schema" else None
    async with Ommi.connect(url) as db:
        if args.command == "check":
            print(f"connected to {shown}")
            print(f"server: {await db.driver.server_version()}")
            print(f"driver: {type(db.driver).__module__.split('.')[0]}.{type(db.driver).__name__}")
            for name, meaning in CAPABILITIES.items():
                print(f"  {'yes' if name in db.capabilities else 'no '}  {name}: {meaning}")
            return EXIT_OK
        schema = db.schema(collection)
        diff = await schema.diff().or_raise()
        if args.action == "diff":
            print(diff)
            return EXIT_DIFFERENT if diff else EXIT_OK
        if args.dry_run:
            print(diff)
            return EXIT_OK
        try:
            applied = await schema.sync(allow=args.allow).or_raise()
        except errors.SchemaError as exc:
            if "refusing" not in str(exc):
                raise
            print(f"ommi: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"applied {len(applied)} change(s)" + (":\n" + str(applied) if applied else ""))
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ommi`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except _UsageError as exc:
        print(f"ommi: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.OmmiError as exc:
        print(f"ommi: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
