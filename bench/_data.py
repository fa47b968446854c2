"""The benchmark's registry content, generated from a seed so every tool gets the same models.

Pure standard library: it is imported by the driver (any Python) and by the builders that run
inside each tool's own virtual environment.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

SEED = 20261123
BASE_MS = 1_700_000_000_000  # 2023-11-14, so timestamps are fixed across runs
VERSIONS_PER_MODEL = 3
LONG_MODEL = "long-model"
LONG_VERSIONS = 5_000
TEAMS = ("growth", "risk", "search", "ads", "platform")


@dataclass(frozen=True)
class VersionSpec:
    """One model version, in terms every tool can store."""

    version: int
    source: str
    run_id: str
    stage: str  # MLflow's stage names: None, Staging, Production, Archived
    created_ms: int
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model with its versions and aliases."""

    name: str
    created_ms: int
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[VersionSpec]

    @property
    def next_version(self) -> int:
        return self.versions[-1].version + 1 if self.versions else 1


def model_name(index: int) -> str:
    """The name of the ``index``-th model (0-based) of a generated registry."""
    return f"m-{index:05d}"


def _stage(version: int, count: int) -> str:
    """Oldest versions archived, one in Production, the newest in Staging (if there are 3+)."""
    if version == count and count >= 3:
        return "Staging"
    if version == max(count - 1, 1):
        return "Production"
    return "Archived"


def _version(rng: random.Random, name: str, number: int, count: int, clock: int) -> VersionSpec:
    run_id = f"{rng.getrandbits(128):032x}"
    f1 = round(0.7 + rng.random() * 0.29, 4)
    return VersionSpec(
        version=number,
        source=f"s3://bench-models/{name}/{number}/model",
        run_id=run_id,
        stage=_stage(number, count),
        created_ms=clock,
        description=f"Retrained on batch {rng.randrange(10_000)}. F1 {f1}",
        tags={"validation": "passed" if rng.random() < 0.8 else "pending"},
        metrics={"f1": f1, "auc": round(0.8 + rng.random() * 0.19, 4)},
    )


def _model(rng: random.Random, name: str, count: int, clock: int) -> ModelSpec:
    versions = [_version(rng, name, n, count, clock + n * 60_000) for n in range(1, count + 1)]
    production = next(v.version for v in versions if v.stage == "Production")
    return ModelSpec(
        name=name,
        created_ms=clock,
        description=f"Benchmark model {name}: predicts something from synthetic data.",
        tags={"team": rng.choice(TEAMS), "priority": rng.choice(("low", "high"))},
        aliases={"champion": production},
        versions=versions,
    )


def generate(models: int, versions: int = VERSIONS_PER_MODEL) -> Iterator[ModelSpec]:
    """``models`` models of ``versions`` versions each; the same for a given size every run."""
    rng = random.Random(f"{SEED}-{models}-{versions}")
    for index in range(models):
        yield _model(rng, model_name(index), versions, BASE_MS + index * 600_000)


def generate_long() -> Iterator[ModelSpec]:
    """One model with LONG_VERSIONS versions (a nightly retrain kept for years)."""
    rng = random.Random(f"{SEED}-long")
    yield _model(rng, LONG_MODEL, LONG_VERSIONS, BASE_MS)
