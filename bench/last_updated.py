"""Recorded or derived: what ``last_updated_timestamp`` costs either way (#25).

``python bench/last_updated.py [--models 1000] [--changes 3] [--versions 500] [--out f.json]``

Builds, with one ``git fast-import`` stream, a registry whose history is what a team's
looks like: ``--models`` models of three versions, each changed ``--changes`` times after
its creation (a stage, a tag, a description: one commit each), and one model of
``--versions`` versions with one commit per version registered and one per version
transitioned. Every manifest carries ``updated_at`` (the recorded design), so both ways
read the same repository. Then it times:

- recorded: what gitreg does: ``search_registered_models`` ordered by last update, and
  ``search_model_versions`` (whose default order is by last update) of the big model,
  both reading the manifests at the tip;
- derived, model level: the time of the last commit touching each manifest, from one
  ``git log --name-only`` over the whole history (the cheapest exact way);
- derived, version level: for the big model, every revision of its manifest read and
  parsed (one ``git cat-file --batch``), each version's entry compared revision to
  revision to find the commit that last changed it;
- the write: a transition's diff with the field (lines changed) and the cost of
  ``core.mutations.touch`` on a 5,000-version model.

Each timing is the median of 5 runs in this process after one warm-up; the machine's load
matters (RESULTS are wall-clock). Nothing here is a test: no test asserts a timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.mutations import touch
from gitreg.gate.scaffold import init_registry

START = 1_790_000_000_000  # epoch ms; one second per commit after it
STAGES = (Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED)


def _model(name: str, versions: int, at: int) -> RegisteredModel:
    made = tuple(
        ModelVersion(
            name,
            n,
            f"s3://bench/{name}/{n}",
            creation_timestamp=at,
            last_updated_timestamp=at,
            user_id="bench",
        )
        for n in range(1, versions + 1)
    )
    return RegisteredModel(name, at, at, versions=made, next_version=versions + 1)


def _commits(models: int, changes: int, versions: int) -> Iterator[tuple[str, str, int]]:
    """(path, manifest text, time) per commit, in history order."""
    clock = iter(range(START, START + 10**12, 1000))
    state: dict[str, RegisteredModel] = {}
    for i in range(models):
        name = f"m-{i:05d}"
        made = state[name] = _model(name, 3, next(clock))
        yield f"models/{name}.yaml", manifest.dump(made.to_manifest()), made.creation_timestamp
    for step in range(changes):
        for i in range(models):
            name = f"m-{i:05d}"
            old, now = state[name], next(clock)
            new = touch(old, _staged(old, step % 3 + 1, STAGES[step % 3]), now)
            state[name] = new
            yield f"models/{name}.yaml", manifest.dump(new.to_manifest()), now
    big = RegisteredModel("big", next(clock))
    for n in range(1, versions + 1):
        now = next(clock)
        mv = ModelVersion(
            "big",
            n,
            f"s3://bench/big/{n}",
            creation_timestamp=now,
            last_updated_timestamp=now,
            user_id="bench",
        )
        grown = touch(big, big.with_versions([*big.versions, mv]), now)
        big = dataclasses.replace(grown, next_version=n + 1)
        yield "models/big.yaml", manifest.dump(big.to_manifest()), now
    for n in range(1, versions + 1):
        now = next(clock)
        big = touch(big, _staged(big, n, Stage.ARCHIVED), now)
        yield "models/big.yaml", manifest.dump(big.to_manifest()), now


def _staged(model: RegisteredModel, number: int, stage: Stage) -> RegisteredModel:
    """``model`` with version ``number`` moved to ``stage`` (as a transition does)."""
    return model.with_versions(
        dataclasses.replace(v, current_stage=stage) if v.version == number else v
        for v in model.versions
    )


def build(root: Path, models: int, changes: int, versions: int) -> int:
    init_registry(root)
    parent = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()
    chunks = []
    count = 0
    for n, (path, text, at) in enumerate(_commits(models, changes, versions)):
        data = text.encode()
        chunks.append(
            f"commit refs/heads/main\nmark :{n + 1}\n"
            f"committer Bench <bench@example.com> {at // 1000} +0000\n"
            f"data 6\nbench\n"
            + (f"from {parent}\n" if n == 0 else "")
            + f"M 100644 inline {path}\ndata {len(data)}\n"
        )
        chunks.append(data.decode() + "\n")
        count += 1
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=root, check=True, input="".join(chunks).encode()
    )
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=root, check=True)
    subprocess.run(["git", "gc", "-q"], cwd=root, check=True)
    return count


def _median(run: Callable[[], Any], repeat: int = 5) -> float:
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def derived_models(root: Path) -> dict[str, int]:
    """Each manifest's last commit time, from one walk of the whole history."""
    out = subprocess.run(
        ["git", "log", "--format=@%ct", "--name-only", "--", "models/"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, int] = {}
    when = 0
    for line in out.splitlines():
        if line.startswith("@"):
            when = int(line[1:]) * 1000
        elif line and line not in found:
            found[line] = when
    return found


def derived_versions(root: Path, path: str) -> dict[int, int]:
    """Each version's last change: every revision of ``path`` parsed and compared."""
    log = subprocess.run(
        ["git", "log", "--format=%H %ct", "--", path],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    revisions = [line.split() for line in log if line]
    batch = "".join(f"{commit}:{path}\n" for commit, _ in revisions).encode()
    raw = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=root, input=batch, check=True, capture_output=True
    ).stdout
    texts, at = [], 0
    for _ in revisions:
        header_end = raw.index(b"\n", at)
        size = int(raw[at:header_end].split()[2])
        texts.append(raw[header_end + 1 : header_end + 1 + size])
        at = header_end + 1 + size + 1
    entries = []
    for text in texts:  # newest first
        data = manifest.load(text, path)
        entries.append(
            {
                v["version"]: {k: x for k, x in v.items() if k != "updated_at"}
                for v in data["versions"]
            }
        )
    last: dict[int, int] = {}
    for index, (_, when) in enumerate(revisions):
        older = entries[index + 1] if index + 1 < len(entries) else {}
        for number, entry in entries[index].items():
            if number not in last and older.get(number) != entry:
                last[number] = int(when) * 1000
    return last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitreg-last-updated-"))
    try:
        root = work / "registry"
        commits = build(root, args.models, args.changes, args.versions)
        registry = Registry(root)
        results: dict[str, Any] = {
            "models": args.models + 1,
            "commits": commits,
            "big_versions": args.versions,
        }
        results["recorded_models_s"] = _median(
            lambda: registry.search_registered_models(
                max_results=1000, order_by=["last_updated_timestamp DESC"]
            )
        )
        results["recorded_versions_s"] = _median(
            lambda: registry.search_model_versions("name = 'big'")
        )
        results["derived_models_s"] = _median(lambda: derived_models(root))
        results["derived_versions_s"] = _median(lambda: derived_versions(root, "models/big.yaml"))
        # The derived answer is the recorded one (a check of this benchmark, not of gitreg).
        by_history = derived_versions(root, "models/big.yaml")
        recorded = {
            mv.version: mv.last_updated_timestamp
            for mv in registry.get_registered_model("big").versions
        }
        assert by_history == recorded, "derived and recorded times disagree"
        huge = _model("huge", 5000, START)
        moved = _staged(huge, 2500, Stage.STAGING)
        results["touch_5000_versions_s"] = _median(lambda: touch(huge, moved, START + 1))
        registry.transition_model_version_stage("m-00001", 1, "Production", True)
        diff = subprocess.run(
            ["git", "diff", "--unified=0", "HEAD~1", "HEAD"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        changed = [
            line
            for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        results["transition_diff_lines"] = len(changed)
        results["of_which_updated_at"] = sum("updated_at" in line for line in changed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
