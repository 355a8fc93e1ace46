"""Benchmarks of collecting, each through the real command: import, fetch, sample.

    python benchmarks/run.py --only import,fetch,sample

Rows:
- import: `annotator import issues.jsonl` of 100,000 issues (REST objects as `gh api` writes
  them, about 3.5 KB each) into a new study: wall time from spawn to exit, the process's CPU
  time and peak RSS (os.wait4);
- fetch: `annotator fetch o/r` against the tests' GitHub-compatible server (1,000 issues and
  250 pull requests, 0-6 comments each): requests made; target = the listing pages + the
  comment pages; its wall time is mostly PyGithub's 0.25 s pacing between requests;
- sample: `annotator sample --stratify repo --where state=closed` on a 100,000-item corpus,
  spawn to exit, and draw_sample alone in-process.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Config, bin_path, median, row, timed_command

ROOT = Path(__file__).resolve().parent.parent

WORDS = ("model tokenizer load weights checkpoint cuda memory error version pipeline inference "
         "fine-tune dataset batch gradient huggingface config shape mismatch expected got the a "
         "when with after upgrade fails works returns None warning").split()


def _user(rng: random.Random) -> dict:
    login = f"user{rng.randrange(50_000)}"
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login, "id": rng.randrange(10**8), "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{rng.randrange(10**8)}?v=4",
        "gravatar_id": "", "url": api, "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events", "type": "User", "user_view_type": "public",
        "site_admin": False,
    }


def rest_issue(rng: random.Random, repo: str, number: int) -> dict:
    """A GitHub REST issue object of realistic size and shape."""
    api = f"https://api.github.com/repos/{repo}"
    created = 1_600_000_000 + number * 3600
    closed = rng.random() < 0.6
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(40, 260)))
    labels = [{"id": rng.randrange(10**9), "node_id": "LA_kwDO", "url": f"{api}/labels/{name}",
               "name": name, "color": "d73a4a", "default": name == "bug",
               "description": "Something isn't working"}
              for name in rng.sample(["bug", "question", "enhancement", "documentation", "help wanted"],
                                     rng.randrange(0, 3))]
    return {
        "url": f"{api}/issues/{number}", "repository_url": api,
        "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments", "events_url": f"{api}/issues/{number}/events",
        "html_url": f"https://github.com/{repo}/issues/{number}", "id": rng.randrange(10**9),
        "node_id": "I_kwDOABCDEF", "number": number,
        "title": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12))).capitalize(),
        "user": _user(rng), "labels": labels, "state": "closed" if closed else "open", "locked": False,
        "assignee": None, "assignees": [], "milestone": None, "comments": rng.randrange(0, 12),
        "created_at": stamp(created), "updated_at": stamp(created + 86_400),
        "closed_at": stamp(created + 86_400) if closed else None, "author_association": "NONE",
        "type": None, "active_lock_reason": None, "sub_issues_summary": {"total": 0, "completed": 0,
                                                                         "percent_completed": 0},
        "body": body,
        "closed_by": None,
        "reactions": {"url": f"{api}/issues/{number}/reactions", "total_count": 0, "+1": 0, "-1": 0,
                      "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "timeline_url": f"{api}/issues/{number}/timeline", "performed_via_github_app": None,
        "state_reason": "completed" if closed else None,
    }


def write_jsonl(path: Path, count: int) -> int:
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(1, count + 1):
            handle.write(json.dumps(rest_issue(rng, f"org{number % 31}/repo", number)) + "\n")
    return path.stat().st_size


def bench_import(config: Config, folder: Path) -> list[dict]:
    from annotator.collect.corpus import CorpusStore
    from annotator.study import Study

    issues = config.size(100_000, 2_000)
    source = folder / "issues.jsonl"
    size = write_jsonl(source, issues)
    walls, cpus, peaks = [], [], []
    for run in range(config.runs):
        study = Study.init(folder / f"import-{run}")
        seconds, usage = timed_command([bin_path("annotator"), "import", str(source), "--study", str(study.root)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with CorpusStore(study.corpus_path) as store:
            stored = store.db.execute("select count(*) from items").fetchone()[0]
        assert stored == issues, (stored, issues)
        walls.append(seconds)
        cpus.append(usage.ru_utime + usage.ru_stime)
        peaks.append(usage.ru_maxrss / 1024)
    what = f"`annotator import` of {issues:,} issues ({size / 1e6:.0f} MB JSONL)"
    return [row("import", f"{what}: spawn to exit", "s", walls, "<= 15 s", 15),
            row("import", f"{what}: CPU time", "s", cpus, "<= 15 s", 15),
            row("import", f"{what}: peak RSS", "MB", peaks, "<= 300 MB", 300)]


def bench_fetch(config: Config, folder: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from github_server import FakeGitHub

    from annotator.collect.corpus import CorpusStore
    from annotator.study import Study

    issues = config.size(1_000, 100)
    requests, walls, expected = [], [], None
    for run in range(config.runs):
        rng = random.Random(2)
        with FakeGitHub() as server:
            server.add_repo("o/r")
            for number in range(1, issues * 5 // 4 + 1):
                server.add_entry("o/r", number, pull=number % 5 == 0, comments=rng.randrange(0, 7))
            study = Study.init(folder / f"fetch-{run}")
            seconds, _ = timed_command(
                [bin_path("annotator"), "fetch", "o/r", "--study", str(study.root), "--api-url", server.base_url],
                env={**os.environ, "GITHUB_TOKEN": "bench-token"}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            with CorpusStore(study.corpus_path) as store:
                assert store.db.execute("select count(*) from items").fetchone()[0] == issues
            repo = server.repos["o/r"]
            expected = math.ceil(len(repo.entries) / 100) + math.ceil(len(repo.comments) / 100)
            requests.append(server.count())
            walls.append(seconds)
    what = f"`annotator fetch` of {issues:,} issues ({issues // 4} pull requests, 0-6 comments each)"
    return [row("fetch", f"{what}: requests", "requests", requests, f"= {expected} (listing + comment pages)",
                ok=all(r == expected for r in requests)),
            row("fetch", f"{what}: spawn to exit (0.25 s pacing per request)", "s", walls)]


def bench_sample(config: Config, folder: Path) -> list[dict]:
    from annotator.collect.corpus import CorpusStore
    from annotator.sampling.draw import SizeRule, draw_sample
    from annotator.study import Study

    items = config.size(100_000, 5_000)
    study = Study.init(folder / "sampling")
    with CorpusStore(study.corpus_path) as store:
        store.upsert_items(({
            "id": f"org{n % 50}/repo#{n}", "repo": f"org{n % 50}/repo", "number": n, "title": f"Issue {n}",
            "body": "", "state": "closed" if n % 3 else "open", "state_reason": None, "author": None,
            "labels": [], "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "closed_at": None, "url": "", "comments": [], "comment_count": 0,
        } for n in range(1, items + 1)), source="bench")
    command, cpu, inside = [], [], []
    for run in range(config.runs):
        seconds, usage = timed_command([bin_path("annotator"), "sample", "--name", f"cli-{run}", "--stratify", "repo",
                                    "--where", "state=closed", "--seed", "1", "--study", str(study.root)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        command.append(seconds)
        cpu.append(usage.ru_utime + usage.ru_stime)
        with CorpusStore(study.corpus_path) as store:
            started = time.perf_counter()
            drawn = draw_sample(store, study, name=f"inside-{run}", rule=SizeRule("cochran"), stratify="repo",
                                where=["state=closed"], seed=1)
            inside.append(time.perf_counter() - started)
    what = f"stratified Cochran sample ({len(drawn.members)}) of a {items:,}-item corpus, with --where"
    return [row("sample", f"`annotator sample`, {what}: spawn to exit", "s", command, "<= 1 s", 1,
                note=f"its CPU time: median {median(cpu):.2f} s"),
            row("sample", f"draw_sample alone (in-process), {what}", "s", inside, "<= 1 s", 1)]


BENCHES = {"import": bench_import, "fetch": bench_fetch, "sample": bench_sample}


def run(config: Config | None = None, only: list[str] | None = None) -> list[dict]:
    config = config or Config()
    with tempfile.TemporaryDirectory(prefix="annotator-bench-collect-") as name:
        return [r for key, bench in BENCHES.items() if not only or key in only for r in bench(config, Path(name))]
