"""The bundled demo study: prepared by `annotator demo`, in two stages (screening, thematic),
ready for merge, reconcile, report, methods and export."""

from __future__ import annotations

from click.testing import CliRunner

from annotator.cli import cli
from annotator.agreement.merge import MergedStore
from annotator.coding.session import SessionStore

STAGES = ("screening", "thematic")


def test_demo_study_goes_through_every_stage(tmp_path):
    root = tmp_path / "demo"
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--dir", str(root), "--no-open"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (root / "taxonomy.yaml").exists() and (root / "corpus.db").exists()
    assert (root / "study.yaml").exists()
    for stage in STAGES:
        for coder in ("ana", "ben", "chen"):
            with SessionStore(root / "sessions" / stage / f"{coder}.db", readonly=True) as session:
                assert session.stage == stage
                assert session.progress().coded == session.count_items() > 0
        with MergedStore(root / "merged" / f"{stage}.db", readonly=True) as merged:
            # Every disagreement was reconciled by 'lead' (the demo's reconciler).
            assert merged.queue() and all(merged.decision(u.item_id, u.dimension) for u in merged.queue())
            methods = {d["method"] for d in merged.decisions().values()}
            assert any(m.startswith("coder:") for m in methods) and "agreed" in methods
    with MergedStore(root / "merged" / "screening.db", readonly=True) as screening:
        relevant = {i for i, dims in screening.final_labels().items() if dims.get("relevance") == {"ptm"}}
        # Screening asks relevance only, of every issue; thematic asks challenge of the PTM-related ones.
        assert {u.dimension for u in screening.units()} == {"relevance"}
        assert len(screening.item_ids()) == 44
    with MergedStore(root / "merged" / "thematic.db", readonly=True) as thematic:
        assert set(thematic.item_ids()) == relevant
        assert {u.dimension for u in thematic.units()} == {"challenge"}

    result = runner.invoke(cli, ["report", "--study", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (root / "reports" / "figures" / "theme_frequency.svg").exists()
    result = runner.invoke(cli, ["export", "--study", str(root), "--stage", "thematic", "--format", "qdpx",
                                 "--out", str(tmp_path / "demo.qdpx")], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    # Preparing again reuses the folder (so coding resumes) and keeps the decisions.
    before = MergedStore(root / "merged" / "screening.db", readonly=True)
    decided = len(before.decisions())
    before.close()
    assert runner.invoke(cli, ["demo", "--dir", str(root), "--no-open"]).exit_code == 0
    with MergedStore(root / "merged" / "screening.db", readonly=True) as merged:
        assert len(merged.decisions()) == decided


def test_demo_status_and_methods_describe_both_stages(tmp_path):
    root = tmp_path / "demo"
    runner = CliRunner()
    assert runner.invoke(cli, ["demo", "--dir", str(root), "--no-open"]).exit_code == 0
    status = runner.invoke(cli, ["status", "--study", str(root)], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    assert "1. screening" in status.output and "2. thematic" in status.output
    assert "Next: annotator report" in status.output
    methods = runner.invoke(cli, ["methods", "--study", str(root)], catch_exceptions=False)
    assert methods.exit_code == 0, methods.output
    assert "Stage 1, 'screening', asked 'PTM-related?' of 44 issues" in methods.output
    assert "Stage 2, 'thematic', asked 'Challenge' of 27 issues" in methods.output
    assert "merged/thematic.db, table rounds" in methods.output
