"""Schema evolution: compare models with the live database, apply the safe part."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ommi import errors
from ommi._model import FieldInfo, ModelInfo
from ommi.driver import NO_DEFAULT, LiveTable, SchemaChange

__all__ = ["SchemaDiff", "compute_diff", "literal_default", "refuse_unallowed"]

_LITERAL_TYPES = (str, int, float)


class SchemaDiff(list[SchemaChange]):
    """The differences between the models and the database; prints one per line."""

    @property
    def safe(self) -> list[SchemaChange]:
        """Additive changes: new tables, new optional or defaulted columns, new indexes."""
        return [c for c in self if c.safe]

    @property
    def destructive(self) -> list[SchemaChange]:
        """Changes that could lose or reject existing data."""
        return [c for c in self if not c.safe]

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self) if self else "no differences"


def literal_default(f: FieldInfo) -> object:
    """The field's default if it is a plain value a column default can hold, else ``NO_DEFAULT``."""
    value = f.default
    if value is NO_DEFAULT or value is None:
        return NO_DEFAULT
    if isinstance(value, _LITERAL_TYPES) or f.kind.value in ("decimal", "date", "enum", "uuid"):
        return value
    return NO_DEFAULT


def compute_diff(
    infos: Iterable[ModelInfo],
    live: dict[str, LiveTable | None],
    expected_type: Callable[[FieldInfo], str | None],
) -> SchemaDiff:
    """Every difference between ``infos`` and the live tables, in model order."""
    out = SchemaDiff()
    for info in infos:
        table = live.get(info.name)
        if table is None:
            out.append(SchemaChange("add_table", info, None, f"{len(info.fields)} columns"))
            continue
        if table.columns is not None:
            out.extend(_column_changes(info, table, expected_type))
        out.extend(_index_changes(info, table))
    return out


def _column_changes(
    info: ModelInfo, table: LiveTable, expected_type: Callable[[FieldInfo], str | None]
) -> list[SchemaChange]:
    out: list[SchemaChange] = []
    for f in info.fields:
        col = table.column(f.column)
        if col is None:
            if f.nullable:
                out.append(SchemaChange("add_column", info, f.column, "optional"))
            elif literal_default(f) is not NO_DEFAULT:
                out.append(SchemaChange("add_column", info, f.column, f"default {f.default!r}"))
            else:
                out.append(SchemaChange(
                    "add_required_column", info, f.column, "required, without a default: existing rows have no value"
                ))
            continue
        want = expected_type(f)
        if want is not None and want != col.type:
            out.append(SchemaChange("retype_column", info, f.column, f"{col.type} -> {want}"))
        if not f.key and f.nullable != col.nullable:
            detail = "NOT NULL -> NULL" if f.nullable else "NULL -> NOT NULL"
            out.append(SchemaChange("change_nullability", info, f.column, detail))
    known = {f.column for f in info.fields}
    for col in table.columns or ():
        if col.name not in known:
            out.append(SchemaChange("drop_column", info, col.name, "not in the model"))
    want_key = tuple(sorted(f.column for f in info.key))
    if want_key and tuple(sorted(table.key)) != want_key:
        out.append(SchemaChange("change_key", info, None, f"({', '.join(table.key)}) -> ({', '.join(want_key)})"))
    return out


def _index_changes(info: ModelInfo, table: LiveTable) -> list[SchemaChange]:
    out: list[SchemaChange] = []
    single_key = len(info.key) == 1
    for f in info.fields:
        if f.unique and not (single_key and f.key) and (f.column,) not in table.unique:
            out.append(SchemaChange("add_unique", info, f.column))
        elif (
            f.index and not f.unique and not f.key
            and (f.column,) not in table.indexes and (f.column,) not in table.unique
        ):
            out.append(SchemaChange("add_index", info, f.column))
    return out


def refuse_unallowed(changes: Sequence[SchemaChange], allow: Iterable[str]) -> None:
    """Raise ``SchemaError`` listing destructive changes whose kind is not allowed."""
    allowed = set(allow)
    unknown = allowed - {"add_required_column", "drop_column", "retype_column", "change_nullability", "change_key"}
    if unknown:
        raise errors.SchemaError(f"sync(allow=...) got unknown change kinds: {', '.join(sorted(unknown))}")
    refused = [c for c in changes if not c.safe and c.kind not in allowed]
    if refused:
        lines = "\n  ".join(str(c) for c in refused)
        kinds = ", ".join(sorted({c.kind for c in refused}))
        raise errors.SchemaError(
            f"refusing {len(refused)} destructive change(s); nothing was applied:\n  {lines}\n"
            f"pass allow={{{', '.join(repr(k) for k in kinds.split(', '))}}} to apply them"
        )
