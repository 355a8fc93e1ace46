"""Benchmarks for collecting: import, fetch requests, sampling.

    python benchmarks/bench_collect.py

Rows (name, measured, target):
- import of 100,000 issues from JSONL (REST objects as `gh api` writes them, about 3 KB each),
  in a fresh process: wall seconds (target <= 15) and peak RSS (target <= 300 MB);
- requests per 1,000 issues fetched from the tests' GitHub-compatible server (1,000 issues and
  250 pull requests, 0-6 comments each): target = the listing pages + the comment pages;
- drawing a stratified Cochran sample from a 100,000-item corpus (target <= 1 s).

``run()`` returns the rows as dicts (name, value, unit, target) for benchmarks/run.py.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_ISSUES = 100_000
SAMPLE_ITEMS = 100_000

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


_CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from annotator.collect.corpus import CorpusStore
from annotator.collect.dumps import import_files
from pathlib import Path
with CorpusStore(Path(sys.argv[2])) as store:
    [report] = import_files(store, [Path(sys.argv[1])])
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_mb": usage.ru_maxrss / 1024, "items": report.items,
                  "problems": report.problems[:3]}))
"""


def bench_import(folder: Path) -> list[dict]:
    source = folder / "issues.jsonl"
    size = write_jsonl(source, IMPORT_ISSUES)
    out = subprocess.run([sys.executable, "-c", _CHILD, str(source), str(folder / "import.db")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    measured = json.loads(out.stdout)
    assert measured["items"] == IMPORT_ISSUES and not measured["problems"], measured
    note = f"{IMPORT_ISSUES:,} issues, {size / 1e6:.0f} MB JSONL"
    return [
        {"name": f"import {note}: time", "value": round(measured["seconds"], 2), "unit": "s", "target": "<= 15"},
        {"name": f"import {note}: CPU time", "value": round(measured["cpu"], 2), "unit": "s", "target": "<= 15"},
        {"name": f"import {note}: peak RSS", "value": round(measured["peak_mb"]), "unit": "MB", "target": "<= 300"},
    ]


def bench_fetch_requests(folder: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from github_server import FakeGitHub

    from annotator.collect.corpus import CorpusStore
    from annotator.collect.github import FetchOptions, fetch_repos

    rng = random.Random(2)
    with FakeGitHub() as server, CorpusStore(folder / "fetch.db") as store:
        server.add_repo("o/r")
        for number in range(1, 1251):
            server.add_entry("o/r", number, pull=number % 5 == 0, comments=rng.randrange(0, 7))
        options = FetchOptions(api_url=server.base_url, token="bench-token", seconds_between_requests=None)
        [result] = fetch_repos(store, ["o/r"], options)
        assert result.status == "complete" and result.issues == 1000
        entries = len(server.repos["o/r"].entries)
        pages = math.ceil(entries / 100) + math.ceil(len(server.repos["o/r"].comments) / 100)
        return [{"name": "fetch: requests per 1,000 issues (250 pull requests, 0-6 comments each)",
                 "value": server.count(), "unit": "requests",
                 "target": f"= {pages} (listing + comment pages)"}]


def bench_sampling(folder: Path) -> list[dict]:
    from annotator.collect.corpus import CorpusStore
    from annotator.sampling.draw import SizeRule, draw_sample
    from annotator.study import Study

    study = Study(folder / "sampling")
    with CorpusStore(study.corpus_path) as store:
        store.upsert_items(({
            "id": f"org{n % 50}/repo#{n}", "repo": f"org{n % 50}/repo", "number": n, "title": f"Issue {n}",
            "body": "", "state": "closed" if n % 3 else "open", "state_reason": None, "author": None,
            "labels": [], "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "closed_at": None, "url": "", "comments": [], "comment_count": 0,
        } for n in range(1, SAMPLE_ITEMS + 1)), source="bench")
        started = time.perf_counter()
        drawn = draw_sample(store, study, name="bench", rule=SizeRule("cochran"), stratify="repo",
                            where=["state=closed"], seed=1)
        seconds = time.perf_counter() - started
    return [{"name": f"sample: stratified Cochran sample ({len(drawn.members)}) of a "
                     f"{SAMPLE_ITEMS:,}-item corpus, with --where",
             "value": round(seconds, 3), "unit": "s", "target": "<= 1"}]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        return bench_import(folder) + bench_fetch_requests(folder) + bench_sampling(folder)


def main() -> None:
    rows = run()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'measured':>14}  target")
    for r in rows:
        print(f"{r['name']:<{width}}  {str(r['value']) + ' ' + r['unit']:>14}  {r['target']} {r['unit']}")


if __name__ == "__main__":
    main()
