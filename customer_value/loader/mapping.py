"""From a file's column names to target fields: the automatic suggestion and the checks on a mapping."""

from __future__ import annotations

from collections.abc import Iterable

from customer_value.errors import UserFacingError
from customer_value.loader.fields import fields_of, normalise_header, required_fields


def suggest_mapping(columns: Iterable[str], kind: str) -> dict[str, str]:
    """Map source columns to target fields by their names.

    Parameters
    ----------
    columns : iterable of str
        The file's column names, in file order.
    kind : str
        One of ``KINDS``.

    Returns
    -------
    dict
        ``{source column: field}``; each field appears at most once, each
        column at most once. A field takes the column matching its earliest
        synonym, so ``InvoiceNo`` wins ``order_id`` over a column named ``Order``.
    """
    normalised = {}
    for column in columns:
        normalised.setdefault(normalise_header(column), column)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target in fields_of(kind):
        for synonym in target.synonyms:
            column = normalised.get(normalise_header(synonym))
            if column is not None and column not in used:
                mapping[column] = target.name
                used.add(column)
                break
    # Keep the file's column order so the mapping reads like the file.
    order = {column: position for position, column in enumerate(columns)}
    return dict(sorted(mapping.items(), key=lambda item: order.get(item[0], 0)))


def check_mapping(mapping: dict[str, str], columns: list[str], kind: str, source_name: str) -> dict[str, str]:
    """The mapping as ``{field: source column}``, or a UserFacingError saying what is wrong with it.

    Unmapped entries (field ``""`` or ``None``) are dropped, so a page can pass
    its whole mapping table.
    """
    known_fields = {target.name for target in fields_of(kind)}
    by_field: dict[str, str] = {}
    for column, target in mapping.items():
        if not target:
            continue
        if column not in columns:
            raise UserFacingError(
                f"{source_name}: the mapping names a column '{column}' that the file does not have; "
                f"its columns are: {', '.join(columns)}"
            )
        if target not in known_fields:
            raise UserFacingError(
                f"{source_name}: '{target}' is not a field of a {kind} file; "
                f"choose one of {', '.join(sorted(known_fields))}"
            )
        if target in by_field:
            raise UserFacingError(
                f"{source_name}: the columns '{by_field[target]}' and '{column}' are both mapped to {target}; "
                "map only one of them"
            )
        by_field[target] = column
    missing = [name for name in required_fields(kind) if name not in by_field]
    if kind == "transactions" and "amount" not in by_field and not {"quantity", "unit_price"} <= set(by_field):
        missing.append("amount (or both quantity and unit_price)")
    if missing:
        raise UserFacingError(
            f"{source_name}: no column is mapped to the required field(s) {', '.join(missing)}. "
            f"The file's columns are: {', '.join(columns)}. Map them by hand (--map COLUMN=FIELD) "
            "or check that the right kind of file was chosen."
        )
    return by_field
