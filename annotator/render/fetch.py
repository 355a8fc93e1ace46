"""What `annotator fetch` shows while it runs: a rich progress line per repository."""

from __future__ import annotations

import math
from typing import Any

from annotator.collect.github import Reporter, RepoResult, summary_line


class RichReporter(Reporter):
    """A rich progress line per repository on stderr; on a non-terminal only a summary line per
    repository. Nothing from GitHub is rendered as markup."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.progress = None
        self.tasks: dict[str, Any] = {}
        if self.console.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                TextColumn("{task.fields[issues]} issues, {task.fields[comments]} comments, "
                           "{task.fields[requests]} requests, rate left {task.fields[rate]}",
                           markup=False),
                TextColumn("{task.fields[status]}", markup=False),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.progress.start()

    def start_repo(self, repo: str) -> None:
        if self.progress is not None:
            self.tasks[repo] = self.progress.add_task(
                repo, total=None, issues=0, comments=0, requests=0, rate="?", status="")

    def update(self, result: RepoResult) -> None:
        if self.progress is not None and result.repo in self.tasks:
            self.progress.update(
                self.tasks[result.repo], issues=f"{result.issues:,}", comments=f"{result.comments:,}",
                requests=f"{result.requests:,}", status="",
                rate="?" if result.rate_remaining is None else f"{result.rate_remaining:,}")

    def waiting(self, repo: str, seconds: float, why: str) -> None:
        if self.progress is not None and repo in self.tasks:
            minutes, secs = divmod(int(math.ceil(seconds)), 60)
            self.progress.update(self.tasks[repo], status=f"{why}: going on in {minutes}:{secs:02d}")

    def finish_repo(self, result: RepoResult) -> None:
        from rich.text import Text

        if self.progress is not None and result.repo in self.tasks:
            self.update(result)
            self.progress.update(self.tasks[result.repo], status=result.status, total=1, completed=1)
            if result.message:  # the progress line already has the counts
                self.console.print(Text(f"{result.repo}: {result.message}"), soft_wrap=True)
        else:
            self.console.print(Text(summary_line(result)), soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
