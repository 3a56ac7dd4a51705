"""The ``ommi`` command: inspect and evolve a database's schema, run migrations, check a connection.

Exit codes: 0 success (and, for ``schema diff`` and ``migrate check``, no
differences); 1 ``schema diff`` or ``migrate check`` found differences; 2 usage
error; 3 the database could not be reached, refused an operation, or a
migration failed; 4 destructive changes refused (``schema sync``; ``migrate
down`` of an operation that cannot be undone; ``migrate make`` with possible
renames nobody decided on).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from ommi import __version__, errors
from ommi._migrations import Migrations
from ommi._model import ModelCollection, all_model_infos
from ommi._session import Ommi
from ommi.driver import CAPABILITIES, parse_url

__all__ = ["main"]

EXIT_OK, EXIT_DIFFERENT, EXIT_USAGE, EXIT_DATABASE, EXIT_REFUSED = 0, 1, 2, 3, 4

DESTRUCTIVE = ("add_required_column", "drop_column", "retype_column", "change_nullability", "change_key")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ommi",
        description="Inspect and evolve the schema of an ommi database.",
        epilog="Exit codes: 0 ok, 1 differences found (schema diff, migrate check), 2 usage error, "
        "3 database or migration error, 4 destructive changes refused (schema sync, migrate down, migrate make).",
    )
    parser.add_argument("--version", action="version", version=f"ommi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def url_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=None, help="database URL (default: $OMMI_DATABASE_URL)")

    def models_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--models", required=True, action="append", metavar="MODULE[:COLLECTION]",
            help="module defining the models (repeatable: their models are compared together); "
            "':NAME' picks a ModelCollection attribute of the module, otherwise the collection "
            "the module's models belong to is used (an error if there are several)",
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
    _migrate_parser(commands, url_option, models_option)
    return parser


def _migrate_parser(commands: Any, url_option: Callable[..., None], models_option: Callable[..., None]) -> None:
    migrate = commands.add_parser("migrate", help="versioned migrations: make, apply, revert, inspect")
    steps = migrate.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, database: bool = True) -> None:
        p.add_argument("--dir", default="migrations", help="the migrations directory (default: migrations)")
        if database:
            url_option(p)
            p.add_argument("--table", default="ommi_migrations", help="the table recording applied migrations")
            p.add_argument(
                "--lock-timeout", type=float, default=600.0, metavar="SECONDS",
                help="wait this long for another run's lock; a lock not refreshed for this long is taken over",
            )

    make = steps.add_parser("make", help="write the next migration from the models")
    make.add_argument("-m", "--message", required=True, help="what the migration does")
    models_option(make)
    common(make, database=False)
    make.add_argument(
        "--rename", action="append", default=[], metavar="OLD=NEW",
        help="a renamed model (User=Customer) or field (User.name=full_name) (repeatable)",
    )
    make.add_argument(
        "--drop", action="append", default=[], metavar="OLD",
        help="a removed model (User) or field (User.name) that is not a rename (repeatable)",
    )
    make.add_argument("--empty", action="store_true", help="write an empty migration with a data step to fill in")
    up = steps.add_parser("up", help="apply the missing migrations (up to TARGET)")
    up.add_argument("target", nargs="?", help="the last migration to apply (default: the latest)")
    common(up)
    down = steps.add_parser("down", help="revert the latest migration, the last N, or those after TARGET")
    down.add_argument("target", nargs="?", help="revert the migrations after this one ('base': all of them)")
    down.add_argument("-n", type=int, default=None, metavar="N", help="revert the last N migrations")
    common(down)
    status = steps.add_parser("status", help="list the migrations and whether each is applied")
    common(status)
    sql = steps.add_parser("sql", help="print the SQL `up` would run, without running it")
    sql.add_argument("target", nargs="?", help="the last migration to include (default: the latest)")
    common(sql)
    check = steps.add_parser("check", help="exit 1 if the models differ from the latest migration (for CI)")
    models_option(check)
    common(check, database=False)


class _UsageError(Exception):
    pass


def _collection(specs: Sequence[str]) -> ModelCollection:
    """The models ``--models`` names: one collection, or the union of several."""
    chosen: dict[int, ModelCollection] = {}
    sys.path.insert(0, os.getcwd())
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise _UsageError(f"cannot import models module {module_name!r}: {exc}") from exc
        if attr:
            found = getattr(module, attr, None)
            if not isinstance(found, ModelCollection):
                raise _UsageError(f"{module_name}.{attr} is not a ModelCollection")
        else:
            found = _module_collection(module)
        chosen[id(found)] = found
    collections = list(chosen.values())
    if len(collections) == 1:
        return collections[0]
    merged = ModelCollection(" + ".join(c.name for c in collections))
    for collection in collections:
        for info in collection.infos():
            try:
                merged.add(info)
            except errors.ModelError as exc:
                raise _UsageError(f"the --models collections cannot be compared together: {exc}") from exc
    return merged


def _module_collection(module: ModuleType) -> ModelCollection:
    """The one collection a module's models belong to (or that the module defines).

    Falling back to the default collection when the module's models live
    elsewhere would compare nothing and report "no differences": refuse instead.
    """
    name = module.__name__
    found: dict[int, ModelCollection] = {}
    for info in all_model_infos():
        defined_in = info.cls.__module__
        if defined_in == name or defined_in.startswith(name + "."):
            found[id(info.collection)] = info.collection
    attrs = {id(v): k for k, v in vars(module).items() if isinstance(v, ModelCollection)}
    for key, attr in attrs.items():
        found.setdefault(key, getattr(module, attr))
    if not found:
        raise _UsageError(f"{name} defines no ommi models and no ModelCollection: is it the models module?")
    if len(found) > 1:
        names = ", ".join(
            f"{name}:{attrs[key]}" if key in attrs else f"collection {c.name!r} (not an attribute of {name})"
            for key, c in found.items()
        )
        raise _UsageError(f"{name} has models in several collections; pick one with --models {names}")
    return next(iter(found.values()))


def _renames(pairs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise _UsageError(f"--rename takes OLD=NEW (User=Customer, User.name=full_name), not {pair!r}")
        model, dot, _ = old.partition(".")
        if dot and new.startswith(model + "."):
            new = new[len(model) + 1 :]  # User.name=User.full_name
        out[old] = new
    return out


def _ask(question: str) -> bool:
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _offline(args: argparse.Namespace) -> int:
    """``migrate make`` and ``migrate check``: models and files only, no database."""
    collection = _collection(args.models)
    migrations = Migrations(args.dir)
    if args.action == "check":
        missing = await migrations.check(collection).or_raise()
        if not missing:
            print("the models match the latest migration")
            return EXIT_OK
        print("the models differ from the latest migration (write one with `ommi migrate make`):")
        for op in missing:
            print(f"  {op}")
        return EXIT_DIFFERENT
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    path = await migrations.make(
        args.message, collection, renames=_renames(args.rename), drops=args.drop,
        ask=_ask if interactive else None, empty=args.empty,
    ).or_raise()
    if path is None:
        print("no changes: the models match the latest migration; nothing written")
    else:
        print(f"wrote {path}")
    return EXIT_OK


async def _migrate(db: Ommi, args: argparse.Namespace) -> int:
    migrations = db.migrations(args.dir, table=args.table, lock_timeout=args.lock_timeout)
    if args.action == "status":
        for entry in await migrations.status().or_raise():
            print(entry)
        return EXIT_OK
    if args.action == "sql":
        for line in await migrations.sql(args.target).or_raise():
            print(line)
        return EXIT_OK
    if args.action == "up":
        applied = await migrations.upgrade(args.target).or_raise()
        for mid in applied:
            print(f"applied {mid}")
        if not applied:
            print("up to date: nothing to apply")
        return EXIT_OK
    if args.target is not None and args.n is not None:
        raise _UsageError("migrate down takes TARGET or -n N, not both")
    reverted = await migrations.downgrade(args.target, steps=args.n).or_raise()
    for mid in reverted:
        print(f"reverted {mid}")
    if not reverted:
        print("nothing to revert")
    return EXIT_OK


async def _run(args: argparse.Namespace) -> int:
    if args.command == "migrate" and args.action in ("make", "check"):
        return await _offline(args)
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
        if args.command == "migrate":
            return await _migrate(db, args)
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
    except errors.MigrationError as exc:
        print(f"ommi: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_REFUSED if exc.refused else EXIT_DATABASE
    except errors.OmmiError as exc:
        print(f"ommi: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
