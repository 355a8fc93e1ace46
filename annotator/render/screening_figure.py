"""The recall curve of a simulated screening (`annotator screen simulate --figure`): recall
against items read, model order against random order, each seed a thin line, the stopping point
marked. matplotlib is imported inside (through analysis/figures' headless canvas and save)."""

from __future__ import annotations

from pathlib import Path

from annotator.screening.simulation import Simulation, recall_curve


def recall_figure(simulation: Simulation, path: Path | str) -> list[Path]:
    import matplotlib

    from annotator.analysis.figures import _RC, _new_figure, _save

    with matplotlib.rc_context(_RC):
        figure = _new_figure(6.4, 4.2)
        axes = figure.add_subplot()
        x = range(1, simulation.total + 1)
        for index, run in enumerate(simulation.runs):
            first = index == 0
            axes.plot(x, recall_curve(run.read), color="tab:blue", linewidth=1.2,
                      label=f"model order ({simulation.model})" if first else None)
            axes.plot(x, recall_curve(run.random_read), color="tab:gray", linewidth=0.8, linestyle="--",
                      label="random order" if first else None)
            if run.stopped_at is not None:
                axes.plot([run.stopped_at], [run.recall_at_stop], marker="o", color="tab:red",
                          linestyle="none", label="stopping rule fires" if first else None)
        axes.axhline(0.95, color="black", linewidth=0.6, linestyle=":")
        axes.set_xlabel("items read")
        axes.set_ylabel("recall (relevant found / all relevant)")
        axes.set_xlim(0, simulation.total)
        axes.set_ylim(0, 1.02)
        summary = simulation.summary()
        wss = summary["wss_at_95"]
        axes.set_title(f"{simulation.total} items, {simulation.relevant} relevant, {len(simulation.runs)} seeds"
                       + (f"; WSS@95 {wss:.2f}" if wss is not None else ""), fontsize=10)
        axes.legend(loc="lower right", fontsize=8)
        return _save(figure, path)
