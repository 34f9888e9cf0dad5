-- One row per load batch (every file loaded, plus the demo company), newest first:
-- what was loaded, from which file (name and content hash), the row counts of its
-- load report, who loaded it and when, and when it was undone (null while in force).
-- Parameters: none. Not scoped: the history describes files, not customers.
select
    batch_id,
    kind,
    source_name,
    content_hash,
    rows_read,
    rows_loaded,
    rows_rejected,
    rows_duplicate,
    rows_already_loaded,
    loaded_at,
    loaded_by,
    undone_at
from load_batches
order by batch_id desc
