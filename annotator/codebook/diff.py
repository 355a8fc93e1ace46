"""What changed between two codebooks, as one line per difference (added, removed, renamed,
moved, re-keyed, retired codes, changed wording). The changelog keeps these lines for hand edits
of taxonomy.yaml; `annotator taxonomy diff` prints them."""

from __future__ import annotations

from annotator.codebook.model import Codebook


def diff_codebooks(a: Codebook, b: Codebook) -> list[str]:
    """What changed from ``a`` to ``b``: added, removed, renamed, moved, re-keyed, retired codes."""
    out: list[str] = []
    a_dims = {d.id: d for d in a.dimensions}
    b_dims = {d.id: d for d in b.dimensions}
    for dim_id in [d for d in a_dims if d not in b_dims]:
        out.append(f"- dimension {dim_id} removed")
    for dim_id in [d for d in b_dims if d not in a_dims]:
        out.append(f"+ dimension {dim_id} added")
    for dim_id in [d for d in b_dims if d in a_dims]:
        old, new = a_dims[dim_id], b_dims[dim_id]
        for name in ("kind", "requires", "on_condition_lost"):  # how the dimension is asked
            if getattr(old, name) != getattr(new, name):
                out.append(f"~ dimension {dim_id}: {name} {getattr(old, name) or '-'} -> {getattr(new, name) or '-'}")
        removed = [c for c in old.walk() if c.id not in new.by_id]
        added = [c for c in new.walk() if c.id not in old.by_id]
        # A code gone and one come with the same name or definition: the id was renamed.
        renamed = []
        for gone in list(removed):
            twin = next((c for c in added if c.name == gone.name or (gone.definition and c.definition == gone.definition)), None)
            if twin is not None:
                renamed.append((gone, twin))
                removed.remove(gone)
                added.remove(twin)
        for code in removed:
            out.append(f"- removed  {dim_id}/{code.id} \"{code.name}\"")
        for code in added:
            where = f"under {code.parent}" if code.parent else "top level"
            out.append(f"+ added    {dim_id}/{code.id} \"{code.name}\" (key {code.key}, {where})")
        for gone, twin in renamed:
            out.append(f"~ renamed  {dim_id}/{gone.id} -> {twin.id}" +
                       (f" (name \"{gone.name}\" -> \"{twin.name}\")" if gone.name != twin.name else ""))
        pairs = [(old.by_id[c.id], c) for c in new.walk() if c.id in old.by_id] + renamed
        for before, after in pairs:
            label = f"{dim_id}/{after.id}"
            if before.id == after.id and before.name != after.name:
                out.append(f"~ renamed  {label}: \"{before.name}\" -> \"{after.name}\"")
            if (before.parent or None) != (after.parent or None):
                # parents compared through renames
                renamed_ids = {g.id: t.id for g, t in renamed}
                if renamed_ids.get(before.parent, before.parent) != after.parent:
                    out.append(f"> moved    {label}: {before.parent or 'top level'} -> {after.parent or 'top level'}")
            if before.key != after.key:
                out.append(f"~ key      {label}: {before.key} -> {after.key}")
            if before.retired != after.retired:
                out.append(f"{'x retired ' if after.retired else '+ unretired'} {label}")
            changed = [n for n in ("definition", "include", "exclude", "example") if getattr(before, n) != getattr(after, n)]
            if changed:
                out.append(f"~ wording  {label}: {', '.join(changed)} changed")
    return out
