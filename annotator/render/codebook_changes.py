"""What `annotator taxonomy ...` prints: the changes made, the sessions they reached, the
changelog."""

from __future__ import annotations

from annotator.codebook.history import changelog_path, describe


def outcome_line(outcome) -> str:
    """One session after a change (a revision.sessions.SessionOutcome): remapped, flagged, skipped."""
    if outcome.skipped:
        return f"{outcome.session}: {outcome.skipped}"
    parts = [f"{outcome.remapped} labels remapped"]
    if outcome.flagged:
        parts.append(f"{len(outcome.flagged)} items flagged for recoding ({', '.join(outcome.flagged[:5])}"
                     f"{', ...' if len(outcome.flagged) > 5 else ''})")
    version = f" (codebook version {outcome.version})" if outcome.version else ""
    return f"{outcome.session}: " + ", ".join(parts) + version


def applied_lines(applied) -> list[str]:
    """What `annotator taxonomy <change>` says it did (or would do, with --dry-run)."""
    lines = []
    for entry in applied.entries:
        lines.append(f"{'would make' if applied.dry_run else 'made'} codebook version {entry['version']}: {describe(entry)}")
    for outcome in applied.outcomes:
        lines.append(f"  {outcome_line(outcome)}")
        for u in outcome.unmapped[:10]:
            lines.append(f"    {u.item_id} {u.dimension}/{u.code}: {u.reason}; flagged for recoding")
        if len(outcome.unmapped) > 10:
            lines.append(f"    ... and {len(outcome.unmapped) - 10} more")
    if not applied.outcomes:
        lines.append("  (no sessions in the study yet)")
    # Each merged file on its own line (merged.db, merged/<stage>.db: agreement/follow_codebook.py).
    for outcome in getattr(applied, "decisions", None) or ():
        if outcome.skipped != "no merged study yet":
            lines += [f"  {line}" for line in outcome.lines()]
    if applied.dry_run:
        lines.append("Dry run: nothing was written.")
    elif applied.taxonomy_path is not None:
        lines.append(f"{applied.taxonomy_path} and {changelog_path(applied.taxonomy_path).name} updated.")
    return lines


def history_lines(history: list[dict]) -> list[str]:
    if not history:
        return ["No recorded changes yet."]
    return [f"{e.get('version'):>3}  {str(e.get('at', ''))[:16].replace('T', ' ')}  {e.get('by') or '-'}  "
            f"{describe(e)}" + (f"  (why: {e['why']})" if e.get("why") else "") for e in history]


def sync_lines(outcomes) -> list[str]:
    """What `annotator taxonomy sync` says of each session."""
    lines = []
    for outcome in outcomes:
        lines.append(outcome_line(outcome))
        lines += [f"  {u.item_id} {u.dimension}/{u.code}: {u.reason}; flagged for recoding" for u in outcome.unmapped]
    return lines


def pulled_lines(pulled, dry_run: bool) -> list[str]:
    """What `annotator taxonomy pull` says: the codes already in, the codes added, by whom, where."""
    lines = [f"{p.dimension}/{p.code} (proposed by {', '.join(p.coders)}) is already in taxonomy.yaml."
             for p in pulled.already]
    if pulled.applied is None:
        return lines + ["No new proposed codes." if not pulled.already else "Nothing new to pull."]
    for proposal in pulled.added:
        for who, items in proposal.items.items():
            lines.append(f"{proposal.dimension}/{proposal.code} \"{proposal.name}\": proposed by {who} "
                         f"on {len(items)} items{': ' + ', '.join(items) if items else ''}")
    lines += applied_lines(pulled.applied)
    if not dry_run:
        lines.append("Review the new codes with the team: keep, rename, merge or retire them.")
    return lines


def diff_lines(a, a_label: str, b, b_label: str, differences: list[str]) -> list[str]:
    """What `annotator taxonomy diff` prints: which codebooks, then one line per difference."""
    return [f"{a_label} ({a.hash}) -> {b_label} ({b.hash})"] + (
        differences or ["no codes changed" + ("" if a.hash == b.hash else " (wording or layout only)")])
