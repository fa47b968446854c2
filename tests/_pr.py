"""Pull-request-shaped registry histories for the promotion-gate tests (see #4).

``main`` holds a registry with model ``churn`` (version 1 in Production, 3 in Staging, 2
deleted) and a policy that asks for ``validation: passed`` and ``f1 >= 0.88`` before
Production; the tests branch ``pr`` off it and edit the YAML as a person would.
"""

from __future__ import annotations

from pathlib import Path

from gitreg.core.config import DEFAULT_CONFIG_TEXT
from gitreg.gate.scaffold import init_registry
from tests._helpers import git

CHURN = """\
schema_version: 1
name: churn
description: Predicts 30-day churn.
aliases:
  champion: 1
next_version: 4
versions:
  - version: 1
    source: runs:/aaa111/model
    run_id: aaa111
    stage: Production
    tags:
      validation: passed
    metrics:
      f1: 0.91
    created_at: "2026-11-01T10:00:00Z"
    created_by: alice
  - version: 3
    source: runs:/ccc333/model
    run_id: ccc333
    stage: Staging
    description: Retrained on November data.
    metrics:
      f1: 0.93
    created_at: "2026-11-20T10:00:00Z"
    created_by: bob
"""

FRAUD = """\
schema_version: 1
name: fraud
next_version: 2
versions:
  - version: 1
    source: s3://models/fraud/1
    stage: None
    created_at: "2026-11-02T10:00:00Z"
"""

REQUIREMENTS = """\
  requirements:
    Production:
      tags: {validation: passed}
      metrics: ["f1 >= 0.88"]
"""

CONFIG = DEFAULT_CONFIG_TEXT.replace("  requirements: {}\n", REQUIREMENTS)
assert CONFIG != DEFAULT_CONFIG_TEXT


def make_base(root: Path) -> Path:
    """A registry on ``main`` (churn, fraud, strict policy) with branch ``pr`` checked out."""
    init_registry(root)
    write(root, "gitreg.yaml", CONFIG)
    write(root, "models/churn.yaml", CHURN)
    write(root, "models/fraud.yaml", FRAUD)
    commit(root, "Base registry")
    git(root, "switch", "-q", "-c", "pr")
    return root


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def edit(root: Path, path: str, old: str, new: str, count: int = 1) -> None:
    """Replace ``old`` by ``new`` in ``path``; fail if ``old`` is not there."""
    text = (root / path).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    write(root, path, text.replace(old, new, count))


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def line_of(root: Path, path: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first ``needle`` that comes after the line containing ``after``."""
    lines = (root / path).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1
