"""Migration files: reading a directory of them, and writing the next one.

A migration file is a Python module with ``id``, ``parent`` (the id of the
migration it follows, ``None`` for the first), ``message`` and
``operations``. The files of a directory form one chain from the first
migration to the latest; two files following the same parent (two branches
that each made a migration) are refused until one is re-parented.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ommi import errors
from ommi._adapters import NO_DEFAULT
from ommi._migration_ops import (
    AddField,
    AddIndex,
    AddUnique,
    AlterField,
    CreateModel,
    DropField,
    DropIndex,
    DropModel,
    DropUnique,
    Operation,
    RenameField,
    RenameModel,
)
from ommi._migration_state import Field, ModelState, State, literal, state_of
from ommi._model import ModelInfo

__all__ = ["Migration", "Planned", "load_chain", "plan_changes", "write_migration"]

_ID = re.compile(r"\A[A-Za-z0-9_]+\Z")


@dataclasses.dataclass(frozen=True)
class Migration:
    """One migration file, loaded."""

    id: str
    parent: str | None
    message: str
    operations: tuple[Operation, ...]
    path: Path

    def states(self, before: State) -> list[State]:
        """``[before, after op 1, after op 2, ...]``."""
        out = [before]
        for n, op in enumerate(self.operations, 1):
            try:
                out.append(op.apply(out[-1]))
            except errors.MigrationError as exc:
                raise errors.MigrationError(f"{self.id}, operation {n} ({op.describe()}): {exc}") from exc
        return out

    def replay(self, before: State) -> State:
        """The state after this migration."""
        return self.states(before)[-1]


def _load(path: Path) -> Migration:
    digest = hashlib.blake2s(str(path.resolve()).encode(), digest_size=6).hexdigest()
    name = f"ommi_migration_{digest}_{re.sub(r'[^0-9A-Za-z_]', '_', path.stem)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise errors.MigrationError(f"cannot load migration file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # data steps may define classes and need their module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise errors.MigrationError(f"migration file {path} failed to load: {type(exc).__name__}: {exc}") from exc
    found: dict[str, Any] = {k: getattr(module, k, None) for k in ("id", "parent", "message", "operations")}
    if not isinstance(found["id"], str) or not _ID.fullmatch(found["id"]):
        raise errors.MigrationError(f"{path}: `id` must be a string of letters, digits and '_'")
    if found["parent"] is not None and not isinstance(found["parent"], str):
        raise errors.MigrationError(f"{path}: `parent` must be the id of the previous migration, or None")
    ops = found["operations"]
    if not isinstance(ops, list | tuple) or not all(isinstance(op, Operation) for op in ops):
        raise errors.MigrationError(f"{path}: `operations` must be a list of ommi.migrations operations")
    message = found["message"] if isinstance(found["message"], str) else ""
    return Migration(found["id"], found["parent"], message, tuple(ops), path)


def load_chain(directory: str | os.PathLike[str]) -> list[Migration]:
    """The migrations of ``directory``, first to latest (an empty list if it has none).

    Raises:
        MigrationError: a file does not load, two files share an id, two follow
            the same parent, or a parent is missing.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    loaded = [_load(p) for p in sorted(root.glob("*.py")) if not p.name.startswith(("_", "."))]
    by_id: dict[str, Migration] = {}
    children: dict[str | None, list[Migration]] = {}
    for m in loaded:
        if m.id in by_id:
            raise errors.MigrationError(f"two migrations have the id {m.id!r}: {by_id[m.id].path} and {m.path}")
        by_id[m.id] = m
        children.setdefault(m.parent, []).append(m)
    for parent, kids in children.items():
        if len(kids) > 1:
            names = ", ".join(k.id for k in kids)
            after = f"follow {parent!r}" if parent else "claim to be the first migration"
            raise errors.MigrationError(
                f"migrations {names} all {after}: the history has forked (two branches each made a "
                "migration); set the `parent` of one of them to the other's id"
            )
        if parent is not None and parent not in by_id:
            raise errors.MigrationError(f"migration {kids[0].id} follows {parent!r}, which is not in {root}")
    chain: list[Migration] = []
    current = children.get(None, [])
    while current:
        chain.append(current[0])
        current = children.get(current[0].id, [])
    if len(chain) != len(loaded):
        stray = sorted(set(by_id) - {m.id for m in chain})
        raise errors.MigrationError(f"migrations {', '.join(stray)} are not connected to the first one (a cycle?)")
    return chain


def replay(chain: Iterable[Migration]) -> State:
    """The state the whole chain describes."""
    state = State()
    for m in chain:
        state = m.replay(state)
    return state


# -- deciding what changed ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Planned:
    """An operation the next migration needs, with a note for its author (a comment in the file)."""

    operation: Operation
    note: str = ""


Ask = Callable[[str], bool]


def plan_changes(
    old: State,
    infos: Sequence[ModelInfo],
    *,
    renames: Mapping[str, str] | None = None,
    drops: Iterable[str] = (),
    ask: Ask | None = None,
    strict: bool = True,
) -> list[Planned]:
    """The operations that take ``old`` to the state of the models ``infos``.

    A model or field that disappeared while another with the same shape
    appeared may be a rename: it is one when ``renames`` says so
    (``{"User": "Customer"}``, ``{"User.name": "full_name"}``), it is a drop
    and an add when ``drops`` names it (``"User"``, ``"User.name"``), and
    otherwise ``ask(question)`` decides. Without an answer, ``strict`` raises
    ``MigrationError`` (``refused``) listing the open questions; otherwise it
    plans a drop and an add.
    """
    planner = _Planner(old, infos, dict(renames or {}), set(drops), ask)
    planner.run()
    if planner.open_questions and strict:
        listed = "\n  ".join(planner.open_questions)
        raise errors.MigrationError(
            "these may be renames; say which (nothing was written):\n  " + listed
            + "\nrename with --rename OLD=NEW (e.g. --rename User.name=full_name, --rename User=Customer), "
            "or confirm the drop with --drop OLD (e.g. --drop User.name)",
            refused=True,
        )
    if not planner.work.same_as(planner.new):  # pragma: no cover - a planning bug, not a user error
        raise errors.MigrationError("internal error: the planned operations do not reach the models' state")
    return planner.out


class _Planner:
    """Works out, step by step, the operations from one state to another."""

    def __init__(
        self, old: State, infos: Sequence[ModelInfo], renames: dict[str, str], drops: set[str], ask: Ask | None
    ) -> None:
        self.work = old
        self.new = state_of(infos)
        self.defaults = {(i.name, f.name): f.default for i in infos for f in i.fields}
        self.renames = renames
        self.drops = drops
        self.ask = ask
        self.open_questions: list[str] = []
        self.out: list[Planned] = []

    def add(self, op: Operation, note: str = "") -> None:
        self.out.append(Planned(op, note))
        self.work = op.apply(self.work)

    def decide(self, old_name: str, new_name: str, what: str) -> bool:
        """Whether ``old_name`` was renamed to ``new_name`` (a candidate of the same shape)."""
        if self.renames.get(old_name) == new_name:
            return True
        if old_name in self.drops or old_name in self.renames:
            return False
        if self.ask is not None:
            return self.ask(f"{what}: was {old_name} renamed to {new_name}?")
        self.open_questions.append(f"{what}: {old_name} -> {new_name}")
        return False

    def run(self) -> None:
        old, new = self.work, self.new
        gone = [n for n in old.models if n not in new.models]
        came = [n for n in new.models if n not in old.models]
        for g in gone:
            target = self._renamed_model(g, came)
            if target is not None:
                self.add(RenameModel(g, target))
                came.remove(target)
        # new models, in an order where references point backwards
        for name in _dependency_order([new.models[c] for c in came]):
            self.add(CreateModel(name, new.models[name].fields))
        drops: list[tuple[str, str]] = []
        for name, model in new.models.items():
            if name in old.models or (name in self.work.models and name not in came):
                drops += self._fields(name, model)
        for name, field in drops:
            self.add(
                DropField(name, field),
                f"dropping {name}.{field} loses its values; `down` refuses to undo it unless you write "
                "reversible=True (the field comes back empty) or restore it with a data step",
            )
        # dropped models, referring ones first
        for name in reversed(_dependency_order([self.work.models[g] for g in gone if g in self.work])):
            self.add(DropModel(name), f"dropping {name} loses its rows; `down` refuses to undo it unless "
                     "you write reversible=True")

    def _renamed_model(self, g: str, came: list[str]) -> str | None:
        declared = self.renames.get(g)
        if declared is not None:
            if declared not in came:
                raise errors.MigrationError(f"rename {g} -> {declared}: there is no new model {declared!r}")
            return declared
        old = self.work.models[g]
        matches = [c for c in came if _same_model(old, self.new.models[c], g, c)]
        return next((c for c in matches if self.decide(g, c, "model")), None)

    def _fields(self, name: str, model: ModelState) -> list[tuple[str, str]]:
        """Plan renames, additions and alterations of one model's fields; return the drops for later."""
        current = self.work.model(name)
        gone = [f for f in current.fields if model.field(f.name) is None]
        came = [f for f in model.fields if current.field(f.name) is None]
        for g in list(gone):
            target = self._renamed_field(name, g, came, model, current)
            if target is not None:
                self.add(RenameField(name, g.name, target.name, target.column))
                gone.remove(g)
                came = [c for c in came if c.name != target.name]
        for f in came:
            note, backfill = "", NO_DEFAULT
            if not f.nullable:
                backfill, note = _backfill(name, f, self.defaults.get((name, f.name), NO_DEFAULT))
            self.add(AddField(name, f, backfill), note)
        for f in model.fields:
            was = self.work.model(name).field(f.name)
            if was is not None and was != f:
                for planned in _alterations(name, was, f, self.defaults.get((name, f.name), NO_DEFAULT)):
                    self.add(planned.operation, planned.note)
        return [(name, f.name) for f in gone]

    def _renamed_field(
        self, name: str, g: Field, came: list[Field], model: ModelState, current: ModelState
    ) -> Field | None:
        key = f"{name}.{g.name}"
        declared = self.renames.get(key)
        if declared is not None:
            found = model.field(declared)
            if found is None or current.field(declared) is not None:
                raise errors.MigrationError(f"rename {key} -> {declared}: {name} has no new field {declared!r}")
            return found
        matches = [c for c in came if _same_field(g, c)]
        return next((c for c in matches if self.decide(key, f"{name}.{c.name}", "field")), None)


def _same_field(a: Field, b: Field) -> bool:
    """Equal but for the name (and a column that follows the name)."""
    return dataclasses.replace(a, name="x", column=None) == dataclasses.replace(b, name="x", column=None)


def _same_model(a: ModelState, b: ModelState, a_name: str, b_name: str) -> bool:
    def own(f: Field) -> Field:  # a reference to the model itself follows its rename
        if f.references is not None and f.references.rpartition(".")[0] == a_name:
            return dataclasses.replace(f, references=b_name + "." + f.references.rpartition(".")[2])
        return f

    return ModelState(b_name, tuple(own(f) for f in a.fields)).same_shape(b)


def _dependency_order(models: Sequence[ModelState]) -> list[str]:
    names = {m.name for m in models}
    deps = {
        m.name: {f.references.rpartition(".")[0] for f in m.fields if f.references} & names - {m.name}
        for m in models
    }
    out: list[str] = []
    while deps:
        ready = [n for n, d in deps.items() if not (d - set(out))] or [next(iter(deps))]  # a cycle: any order
        for n in ready:
            out.append(n)
            del deps[n]
    return out


_ZEROS = {"str": "", "int": 0, "float": 0.0, "bool": False}


def _backfill(model: str, f: Field, default: Any) -> tuple[Any, str]:
    if isinstance(default, str | int | float):
        return default, f"existing rows get {default!r}, the field's default"
    if f.type in _ZEROS:
        zero = _ZEROS[f.type]
        return zero, f"existing rows get {zero!r}: check that this is the value they should hold"
    return None, (
        f"{model}.{f.name} is required: set backfill= to the value existing rows get "
        "(without one, adding it fails unless the table is empty)"
    )


def _alterations(model: str, was: Field, now: Field, default: Any) -> list[Planned]:
    out: list[Planned] = []
    for attr in ("key", "auto", "references"):
        if getattr(was, attr) != getattr(now, attr):
            raise errors.MigrationError(
                f"{model}.{now.name}: changing {attr!r} is not supported by migrations; add a new field "
                "(or model), copy the data with a data step (RunData), then drop the old one"
            )
    base = dataclasses.replace(was, unique=now.unique, index=now.index)
    if base != now:
        target = dataclasses.replace(now, unique=was.unique, index=was.index)
        note, backfill = "", NO_DEFAULT
        if was.nullable and not now.nullable:
            if isinstance(default, str | int | float | bool):
                backfill, note = default, f"rows holding NULL get {default!r}, the field's default"
            else:
                note = "rows holding NULL make this fail: set backfill= to the value they should get"
        if (was.type, was.aware) != (now.type, now.aware):
            note = (note + "; " if note else "") + "stored values are converted to the new type: check they fit"
        out.append(Planned(AlterField(model, now.name, target, backfill), note))
    if was.unique != now.unique:
        out.append(Planned(AddUnique(model, now.name) if now.unique else DropUnique(model, now.name)))
    if was.index != now.index:
        out.append(Planned(AddIndex(model, now.name) if now.index else DropIndex(model, now.name)))
    # unique and index exclude each other: the drop comes first
    out.sort(key=lambda p: 0 if isinstance(p.operation, AlterField | DropUnique | DropIndex) else 1)
    return out


# -- writing ------------------------------------------------------------------------


def _docline(message: str) -> str:
    """The message's first line, safe inside a docstring (the exact text is in ``message``)."""
    first = message.strip().splitlines()[0] if message.strip() else "migration"
    return first.replace("\\", "/").replace('"', "'")


def _slug(message: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "_", message.lower()).strip("_")
    return slug[:40].rstrip("_") or "migration"


def next_id(chain: Sequence[Migration], message: str) -> str:
    """``0003_add_nickname``: one more than the largest number so far, and a slug of the message."""
    numbers = [int(m.id.split("_", 1)[0]) for m in chain if m.id.split("_", 1)[0].isdigit()]
    return f"{max(numbers, default=0) + 1:04d}_{_slug(message)}"


def render_migration(mid: str, parent: str | None, message: str, planned: Sequence[Planned]) -> str:
    """The source of a migration file."""
    used = {type(p.operation).__name__ for p in planned}
    if any(isinstance(p.operation, CreateModel | AddField | AlterField) for p in planned):
        used.add("Field")
    names = sorted(used)
    lines = [
        f'"""{_docline(message)}',
        "",
        "Written by `ommi migrate make`: review it (renames, backfills, data steps) before it runs anywhere.",
        '"""',
        "",
    ]
    if names:
        lines += [f"from ommi.migrations import {', '.join(names)}", ""]
    lines += [f"id = {literal(mid)}", f"parent = {literal(parent)}", f"message = {literal(message)}", ""]
    lines.append("operations = [")
    for p in planned:
        for note in p.note.split("\n") if p.note else ():
            lines.append(f"    # {note}")
        lines.append(f"    {p.operation.render()},")
    lines.append("]")
    return "\n".join(lines) + "\n"


_EMPTY_TEMPLATE = '''"""{first}

Written by `ommi migrate make --empty`: fill in the data step.
"""

from ommi.migrations import MigrationTransaction, RunData, noop

id = {mid}
parent = {parent}
message = {message}


async def forward(tx: MigrationTransaction) -> None:
    """Runs in the migration's transaction; the models as they are here: tx.models.<table name>."""


operations = [
    RunData(forward, backward=noop),
]
'''


def write_migration(
    directory: str | os.PathLike[str], chain: Sequence[Migration], message: str, planned: Sequence[Planned] | None
) -> Path:
    """Write the next migration file (``planned=None``: an empty one with a data step to fill in)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    mid = next_id(chain, message)
    parent = chain[-1].id if chain else None
    if planned is None:
        text = _EMPTY_TEMPLATE.format(
            first=_docline(message), mid=literal(mid), parent=literal(parent), message=literal(message)
        )
    else:
        text = render_migration(mid, parent, message, planned)
    path = root / f"{mid}.py"
    if path.exists():
        raise errors.MigrationError(f"{path} already exists")
    path.write_text(text, encoding="utf-8")
    return path
