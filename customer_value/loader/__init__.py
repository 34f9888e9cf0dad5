"""Loading real exports: read any common file, map its columns, check every row, load it as one batch.

``inspect_file`` shows how a file will be read and suggests a mapping;
``load_file`` loads it in one transaction and returns a ``LoadReport`` that
accounts for every row and, for transactions, reconciles revenue to the cent.
"""

from customer_value.loader.fields import FIELDS, KINDS, Field, field_names, fields_of, normalise_header, required_fields
from customer_value.loader.inspection import PREVIEW_ROWS, FileInspection, inspect_file
from customer_value.loader.loading import REJECTED_COLUMNS, LoadReport, load_file
from customer_value.loader.mapping import check_mapping, suggest_mapping
from customer_value.loader.reading import (
    MAX_UPLOAD_BYTES,
    ReadOptions,
    SheetChoiceNeeded,
    list_sheets,
)
from customer_value.loader.validation import REASONS

__all__ = [
    "FIELDS",
    "KINDS",
    "MAX_UPLOAD_BYTES",
    "PREVIEW_ROWS",
    "REASONS",
    "REJECTED_COLUMNS",
    "Field",
    "FileInspection",
    "LoadReport",
    "ReadOptions",
    "SheetChoiceNeeded",
    "check_mapping",
    "field_names",
    "fields_of",
    "inspect_file",
    "list_sheets",
    "load_file",
    "normalise_header",
    "required_fields",
    "suggest_mapping",
]
