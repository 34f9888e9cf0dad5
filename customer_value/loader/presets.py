"""Named column-mapping presets: map next month's export the way this month's was mapped.

A preset remembers, for one kind of file, which source column feeds which
field ({source column: field}) and the read options (encoding, delimiter, date
order, ...). It is checked when saved, so applying it never meets a field the
loader does not know.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, fields, is_dataclass
from typing import Any

import pandas as pd

from customer_value.db import Database
from customer_value.errors import UserFacingError
from customer_value.loader.fields import KINDS, field_names
from customer_value.query import run

MAX_NAME_LENGTH = 60
# Letters of any script (exports and their names are often Chinese), digits,
# spaces and a few separators; nothing a terminal or a file name would trip on.
_NAME_PATTERN = re.compile(r"[\w][\w .()#&+/-]*", re.UNICODE)


def validate_name(name: Any) -> str:
    """The preset name, trimmed; a UserFacingError says what is wrong with a bad one."""
    text = unicodedata.normalize("NFC", str(name or "")).strip()
    if not text:
        raise UserFacingError("Give the preset a name, for example 'Shop export monthly'.")
    if len(text) > MAX_NAME_LENGTH:
        raise UserFacingError(f"The preset name is {len(text)} characters long; keep it to {MAX_NAME_LENGTH}.")
    if not _NAME_PATTERN.fullmatch(text):
        raise UserFacingError(
            f"The preset name '{text}' has characters a name cannot hold; use letters, digits, spaces "
            "and . ( ) # & + / - (starting with a letter or digit)."
        )
    return text


def _read_options_class():
    # Imported when used: the loader package's __init__ may import this module.
    from customer_value.loader import ReadOptions

    return ReadOptions


def _validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UserFacingError(f"Unknown kind of file '{kind}'; choose one of {', '.join(KINDS)}.")
    return kind


def validate_mapping(mapping: dict[str, str], kind: str) -> dict[str, str]:
    """{source column: field} with every field known for ``kind`` and used once; unmapped entries dropped."""
    if not isinstance(mapping, dict):
        raise UserFacingError("A preset's mapping pairs source columns with fields.")
    known = field_names(kind)
    used: dict[str, str] = {}
    clean: dict[str, str] = {}
    for source, field_name in mapping.items():
        if not field_name:
            continue
        source_text = str(source)
        if not source_text.strip():
            raise UserFacingError("The preset maps a column without a name; every mapped column needs its name.")
        if field_name not in known:
            raise UserFacingError(
                f"The field '{field_name}' (mapped from column '{source_text}') is not a field of a {kind} file; "
                f"known fields: {', '.join(known)}."
            )
        if field_name in used:
            raise UserFacingError(
                f"The field '{field_name}' is mapped from two columns, '{used[field_name]}' and '{source_text}'; "
                "keep one."
            )
        used[field_name] = source_text
        clean[source_text] = field_name
    if not clean:
        raise UserFacingError("The preset maps no column; map at least one column to a field before saving.")
    return clean


def options_to_dict(options: Any) -> dict[str, Any]:
    """Read options (a ReadOptions, a dict or None) as a plain dict that ReadOptions accepts back."""
    read_options_class = _read_options_class()
    if options is None:
        return asdict(read_options_class())
    if is_dataclass(options) and not isinstance(options, type):
        values = asdict(options)
    elif isinstance(options, dict):
        values = dict(options)
    else:
        raise UserFacingError(f"Read options must be a set of named settings, not {type(options).__name__}.")
    allowed = {item.name for item in fields(read_options_class)}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise UserFacingError(f"Unknown read option {', '.join(unknown)}; known: {', '.join(sorted(allowed))}.")
    try:
        checked = read_options_class(**values)
    except (TypeError, ValueError) as exc:
        raise UserFacingError(f"The read options cannot be used: {exc}") from None
    return asdict(checked)


def save_preset(db: Database, name: str, kind: str, mapping: dict[str, str], options: Any,
                user: str) -> dict[str, Any]:
    """Save (or replace) the preset ``name`` for ``kind`` files.

    Parameters
    ----------
    db : Database
        The open database.
    name : str
        The preset's name; letters of any script, digits, spaces and ``. ( ) # & + / -``, at most 60 characters.
    kind : str
        One of the loader's kinds (transactions, customers, feedback, leads).
    mapping : dict
        {source column: field}; every field must be a field of ``kind``, each used once.
    options : ReadOptions, dict or None
        The read options to remember with it.
    user : str
        Who saves it.

    Returns
    -------
    dict
        ``name``, ``kind``, ``mapping``, ``options`` as saved and ``replaced`` (True when a preset of that
        name and kind existed and was overwritten).
    """
    clean_name = validate_name(name)
    _validate_kind(kind)
    clean_mapping = validate_mapping(mapping, kind)
    clean_options = options_to_dict(options)
    with db.write_lock:
        con = db.cursor()
        con.execute("begin transaction")
        try:
            replaced = con.execute("delete from mapping_presets where name = ? and kind = ?",
                                   [clean_name, kind]).fetchone()[0] > 0
            con.execute(
                "insert into mapping_presets (name, kind, mapping_json, options_json, saved_at, saved_by) "
                "values (?, ?, ?, ?, date_trunc('second', cast(current_timestamp as timestamp)), ?)",
                [clean_name, kind, json.dumps(clean_mapping, ensure_ascii=False),
                 json.dumps(clean_options, ensure_ascii=False), str(user or "").strip() or "unknown"],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return {"name": clean_name, "kind": kind, "mapping": clean_mapping, "options": clean_options,
            "replaced": replaced}


def list_presets(db: Database, kind: str | None = None) -> pd.DataFrame:
    """Saved presets (all, or those for ``kind``) with the number of columns each maps.

    Returns
    -------
    pandas.DataFrame
        One row per preset: ``name``, ``kind``, ``mapped_columns``, ``mapping`` (text such as
        ``InvoiceNo → order_id, ...``), ``saved_at``, ``saved_by``.
    """
    if kind is not None:
        _validate_kind(kind)
    # Presets change without a data version bump, so a cached answer could be stale.
    frame = run(db, "mapping_presets", params={"kind": kind, "name": None}, use_cache=False)
    mappings = [json.loads(text) for text in frame["mapping_json"]]
    return pd.DataFrame({
        "name": frame["name"],
        "kind": frame["kind"],
        "mapped_columns": [len(mapping) for mapping in mappings],
        "mapping": [", ".join(f"{source} → {target}" for source, target in mapping.items()) for mapping in mappings],
        "saved_at": frame["saved_at"],
        "saved_by": frame["saved_by"],
    })


def get_preset(db: Database, name: str, kind: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The preset's mapping {source column: field} and read options (a dict for ``ReadOptions(**...)``)."""
    clean_name = validate_name(name)
    _validate_kind(kind)
    frame = run(db, "mapping_presets", params={"kind": kind, "name": clean_name}, use_cache=False)
    if frame.empty:
        saved = list_presets(db, kind)["name"].tolist()
        known = ", ".join(saved) if saved else "none saved yet"
        raise UserFacingError(f"There is no {kind} preset named '{clean_name}'; saved {kind} presets: {known}.")
    mapping = json.loads(frame.loc[0, "mapping_json"])
    options_text = frame.loc[0, "options_json"]
    options = json.loads(options_text) if isinstance(options_text, str) and options_text else {}
    # Options saved by an older release may lack newer settings; fill them with today's defaults.
    return mapping, options_to_dict(options)


def delete_preset(db: Database, name: str, kind: str) -> None:
    """Delete the preset ``name`` for ``kind``; a UserFacingError when there is none."""
    clean_name = validate_name(name)
    _validate_kind(kind)
    with db.write_lock:
        deleted = db.cursor().execute("delete from mapping_presets where name = ? and kind = ?",
                                      [clean_name, kind]).fetchone()[0]
    if not deleted:
        raise UserFacingError(f"There is no {kind} preset named '{clean_name}'; nothing was deleted.")
