"""The bundled demo study: prepared by `annotator demo`, ready for merge, reconcile, report and export."""

from __future__ import annotations

from click.testing import CliRunner

from annotator.cli import cli
from annotator.agreement.merge import MergedStore
from annotator.coding.session import SessionStore


def test_demo_study_goes_through_every_stage(tmp_path):
    root = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--dir", str(root), "--no-open"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (root / "taxonomy.yaml").exists() and (root / "corpus.db").exists()
    for coder in ("ana", "ben", "chen"):
        with SessionStore(root / "sessions" / f"{coder}.db", readonly=True) as session:
            assert session.progress().coded == session.count_items() > 0
    with MergedStore(root / "merged.db", readonly=True) as merged:
        # Every disagreement was reconciled by 'lead' (the demo's reconciler).
        assert merged.queue() and all(merged.decision(u.item_id, u.dimension) for u in merged.queue())
        methods = {d["method"] for d in merged.decisions().values()}
        assert any(m.startswith("coder:") for m in methods) and "agreed" in methods

    result = runner.invoke(cli, ["report", "--study", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (root / "reports" / "figures" / "theme_frequency.svg").exists()
    result = runner.invoke(cli, ["export", str(root / "merged.db"), "--format", "qdpx",
                                 "--out", str(tmp_path / "demo.qdpx")], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    # Preparing again reuses the folder (so coding resumes) and keeps the decisions.
    before = MergedStore(root / "merged.db", readonly=True)
    decided = len(before.decisions())
    before.close()
    assert runner.invoke(cli, ["demo", "--dir", str(root), "--no-open"]).exit_code == 0
    with MergedStore(root / "merged.db", readonly=True) as merged:
        assert len(merged.decisions()) == decided
