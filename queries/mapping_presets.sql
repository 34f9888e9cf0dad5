-- One row per saved column-mapping preset: its name and kind of file, the mapping
-- {source column: field} and read options as JSON text, who saved it and when.
-- Parameters: $kind, $name (either null = no restriction). The casts give the
-- parameters a type when they are bound as null.
select
    name,
    kind,
    mapping_json,
    options_json,
    saved_at,
    saved_by
from mapping_presets
where (cast($kind as varchar) is null or kind = cast($kind as varchar))
    and (cast($name as varchar) is null or name = cast($name as varchar))
order by kind, lower(name), name
