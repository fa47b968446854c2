"""Differential test: the same random registry operations against MLflow's own SQLite
registry and against gitreg through the MLflow plugin; results and errors must agree.

A seeded generator (not hypothesis: each step is a git commit and an SQL write, so
shrinking would be slow) runs ``STEPS`` operations per seed. Where gitreg deliberately
differs from MLflow, the step runs on gitreg alone and checks gitreg's answer, so the two
registries never drift apart; every such case is named in ``DIFFERENCES``.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gitreg.gate.scaffold import init_registry

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)

SEEDS = (1, 2, 3, 4)
STEPS = 125

# Deliberate differences (documented in docs/mlflow.md). The step runs on gitreg only.
DIFFERENCES = {
    "one-production": "a second Production version without archive_existing_versions is "
    "refused (INVALID_STATE); MLflow allows any number",
    "case-insensitive-names": "names are unique case-insensitively (a registry must check "
    "out on macOS/Windows); MLflow has 'churn' and 'Churn' side by side",
    "alias-names": "aliases start with a letter or '_' (so they never look like a version); "
    "MLflow also accepts e.g. '1x'",
    "archive-code": "archive_existing_versions with a stage other than Staging/Production "
    "fails with INVALID_PARAMETER_VALUE; MLflow raises it as INTERNAL_ERROR",
}

NAMES = ["alpha", "beta", "Beta", "gamma.v2", "has space", "bad/name", ""]
GITREG_REFUSES: dict[str, str] = {}
ALIASES = ["champion", "challenger", "latest", "v1", "1x", "bad alias", "V2x"]
TAG_KEYS = ["team", "prio", "mlflow.note"]
TAG_VALUES = ["growth", "ml", "", "x y"]
STAGES = ["None", "Staging", "Production", "Archived", "staging", "Bogus"]
SOURCES = ["s3://bucket/m/1", "runs:/r1/model", "runs:/r2/model", "/tmp/model", "models:/alpha/1"]
RUN_IDS = [None, "r1", "r2"]
FILTERS = [
    None,
    "name = 'alpha'",
    "name != 'alpha'",
    "name LIKE 'b%'",
    "name ILIKE '%ETA%'",
    "name IN ('alpha', 'beta')",
    "tags.team = 'growth'",
    "tags.team != 'growth'",
    "tags.`mlflow.note` LIKE '%'",
    "tags.prio = 'ml' AND name = 'beta'",
    "name = 'alpha' OR name = 'beta'",
    "nonsense ~ 'x'",
    "name = alpha",
]
VERSION_FILTERS = [
    *FILTERS,
    "run_id = 'r1'",
    "run_id IN ('r1', 'r2')",
    "version_number > 1",
    "version_number <= 2 AND name = 'alpha'",
    "source_path LIKE 's3://%'",
    "source_path = '/tmp/model'",
]
ORDERS = [
    None,
    ["name ASC"],
    ["name DESC"],
    ["version_number DESC"],
    ["name ASC", "version_number ASC"],
    ["bogus_key ASC"],
]


# ------------------------------------------------------------------------ normalizing


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _version(mv: Any, aliases: bool = True) -> dict[str, Any]:
    out = {
        "name": mv.name,
        "version": str(mv.version),
        "current_stage": mv.current_stage,
        "description": _text(mv.description),  # MLflow keeps "" and None apart; gitreg not
        "source": mv.source,
        "run_id": _text(mv.run_id),
        "run_link": _text(mv.run_link),
        "status": mv.status,
        "tags": dict(mv.tags),
    }
    if aliases:  # MLflow's search results and latest_versions carry no aliases
        out["aliases"] = sorted(mv.aliases)
    return out


def _model(rm: Any) -> dict[str, Any]:
    return {
        "name": rm.name,
        "description": _text(rm.description),
        "tags": dict(rm.tags),
        "aliases": {a: str(v) for a, v in rm.aliases.items()},
        "latest_versions": sorted(
            (_version(mv, aliases=False) for mv in rm.latest_versions or ()),
            key=lambda v: int(v["version"]),
        ),
    }


def _normal(value: Any, ordered: bool = True) -> Any:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

    if isinstance(value, RegisteredModel):
        return _model(value)
    if isinstance(value, ModelVersion):
        return _version(value)
    if isinstance(value, list):
        items = [
            _version(v, aliases=False) if isinstance(v, ModelVersion) else _normal(v) for v in value
        ]
        token = getattr(value, "token", None)
        if not ordered:
            items.sort(key=lambda d: (d["name"], int(d.get("version", 0))))
        return {"items": items, "more": bool(token)}
    return value


def _call(client: Any, method: str, *args: Any, **kw: Any) -> tuple[str, Any]:
    from mlflow.exceptions import MlflowException

    try:
        result = getattr(client, method)(*args, **kw)
    except MlflowException as e:
        return "error", e.error_code
    ordered = method not in ("search_model_versions",) or bool(kw.get("order_by"))
    return "ok", _normal(result, ordered)


# ------------------------------------------------------------------------- the machine


class Differential:
    """Runs one random step at a time on both registries and compares."""

    def __init__(self, reference: Any, subject: Any, rng: random.Random) -> None:
        self.ref = reference
        self.sub = subject
        self.rng = rng
        self.differences: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()

    def both(self, method: str, *args: Any, **kw: Any) -> None:
        expected = _call(self.ref, method, *args, **kw)
        actual = _call(self.sub, method, *args, **kw)
        self.ops[method] += 1
        assert actual == expected, f"{method}{args}{kw}:\n mlflow: {expected}\n gitreg: {actual}"

    def gitreg_only(self, difference: str, code: str, method: str, *args: Any, **kw: Any) -> None:
        outcome = _call(self.sub, method, *args, **kw)
        self.differences[difference] += 1
        assert outcome == ("error", code), f"{difference}: {method}{args} -> {outcome}"

    def pick(self, pool: list[Any]) -> Any:
        return self.rng.choice(pool)

    def name(self) -> str | None:
        """A name both sides can take, else None after checking gitreg's refusal."""
        name = self.pick(NAMES)
        if name in GITREG_REFUSES:
            self.gitreg_only(
                GITREG_REFUSES[name], "INVALID_PARAMETER_VALUE", "get_registered_model", name
            )
            return None
        existing = [m.name for m in self.ref.search_registered_models(max_results=1000)]
        clash = [n for n in existing if n.lower() == name.lower() and n != name]
        if clash:
            self.gitreg_only(
                "case-insensitive-names", "RESOURCE_ALREADY_EXISTS", "create_registered_model", name
            )
            return None
        return name

    def version(self) -> str:
        return str(self.rng.randint(1, 5))

    # Each step is one operation with random arguments.

    def step_create_model(self) -> None:
        if (name := self.name()) is not None:
            tags = {self.pick(TAG_KEYS): self.pick(TAG_VALUES)} if self.rng.random() < 0.5 else None
            self.both(
                "create_registered_model", name, tags=tags, description=self.pick([None, "d"])
            )

    def step_create_version(self) -> None:
        if (name := self.name()) is not None:
            tags = {self.pick(TAG_KEYS): self.pick(TAG_VALUES)} if self.rng.random() < 0.3 else None
            self.both(
                "create_model_version",
                name,
                self.pick(SOURCES),
                run_id=self.pick(RUN_IDS),
                tags=tags,
                description=self.pick([None, "first", ""]),
                await_creation_for=0,
            )

    def step_transition(self) -> None:
        name, version, stage = self.pick(NAMES[:4]), self.version(), self.pick(STAGES)
        archive = self.rng.random() < 0.4
        canonical = stage.capitalize()
        if archive and canonical in ("None", "Archived"):
            self.ref_fails_too(
                "archive-code", "transition_model_version_stage", name, version, stage, archive
            )
            return
        if canonical == "Production" and not archive and self._other_in_production(name, version):
            self.gitreg_only(
                "one-production",
                "INVALID_STATE",
                "transition_model_version_stage",
                name,
                version,
                stage,
                archive,
            )
            return
        self.both("transition_model_version_stage", name, version, stage, archive)

    def ref_fails_too(self, difference: str, method: str, *args: Any) -> None:
        expected, actual = _call(self.ref, method, *args), _call(self.sub, method, *args)
        self.differences[difference] += 1
        assert expected[0] == actual[0] == "error", (difference, expected, actual)

    def _model_exists(self, name: str) -> bool:
        try:
            self.ref.get_registered_model(name)
        except Exception:
            return False
        return True

    def _other_in_production(self, name: str, version: str) -> bool:
        try:
            live = self.ref.get_latest_versions(name, ["Production"])
            self.ref.get_model_version(name, version)
        except Exception:
            return False
        return any(str(mv.version) != version for mv in live)

    def step_tag(self) -> None:
        name, key = self.pick(NAMES[:4]), self.pick(TAG_KEYS)
        if self.rng.random() < 0.5:
            self.both("set_registered_model_tag", name, key, self.pick(TAG_VALUES))
        else:
            self.both("set_model_version_tag", name, self.version(), key, self.pick(TAG_VALUES))

    def step_untag(self) -> None:
        name, key = self.pick(NAMES[:4]), self.pick(TAG_KEYS)
        if self.rng.random() < 0.5:
            self.both("delete_registered_model_tag", name, key)
        else:
            self.both("delete_model_version_tag", name, self.version(), key)

    def step_alias(self) -> None:
        name, alias = self.pick(NAMES[:4]), self.pick(ALIASES)
        version = self.version()
        if alias == "1x" and self._model_exists(name):
            self.gitreg_only(
                "alias-names",
                "INVALID_PARAMETER_VALUE",
                "set_registered_model_alias",
                name,
                alias,
                version,
            )
            return
        choice = self.rng.random()
        if choice < 0.5:
            self.both("set_registered_model_alias", name, alias, version)
        elif choice < 0.75:
            self.both("get_model_version_by_alias", name, alias)
        elif alias not in ("1x", "bad alias"):
            self.both("delete_registered_model_alias", name, alias)

    def step_describe(self) -> None:
        name, text = self.pick(NAMES[:4]), self.pick(["new words", "x"])
        if self.rng.random() < 0.5:
            self.both("update_registered_model", name, text)
        else:
            self.both("update_model_version", name, self.version(), text)

    def step_rename(self) -> None:
        name, new = self.pick(NAMES[:4]), self.name()
        if new is not None:
            self.both("rename_registered_model", name, new)

    def step_delete(self) -> None:
        name = self.pick(NAMES[:4])
        if self.rng.random() < 0.8:
            self.both("delete_model_version", name, self.version())
        else:
            self.both("delete_registered_model", name)

    def step_read(self) -> None:
        name, version = self.pick(NAMES[:4]), self.version()
        method = self.pick(
            [
                "get_registered_model",
                "get_model_version",
                "get_latest_versions",
                "get_model_version_download_uri",
            ]
        )
        if method == "get_registered_model":
            self.both(method, name)
        elif method == "get_latest_versions":
            self.both(method, name, self.pick([None, ["Production"], ["Staging", "None"]]))
        else:
            self.both(method, name, version)

    def step_search(self) -> None:
        if self.rng.random() < 0.5:
            order = self.pick([o for o in ORDERS if o != ["version_number DESC"]])
            self.both(
                "search_registered_models",
                self.pick(FILTERS),
                order_by=order,
                max_results=self.pick([1, 2, 100]),
            )
        else:
            self.both(
                "search_model_versions",
                self.pick(VERSION_FILTERS),
                order_by=self.pick(ORDERS),
                max_results=self.pick([1, 3, 1000]),
            )

    def step_page(self) -> None:
        """Walk every page of a search; the pages must match one by one."""
        order = ["name ASC", "version_number ASC"]
        token = None
        for _ in range(20):
            ref = self.ref.search_model_versions(max_results=2, order_by=order, page_token=token)
            sub = self.sub.search_model_versions(max_results=2, order_by=order, page_token=token)
            assert _normal(ref) == _normal(sub)
            token = ref.token
            if not token:
                return

    def check_state(self) -> None:
        """The whole registry, compared after every step."""
        self.both("search_registered_models", max_results=1000)
        self.both("search_model_versions", order_by=["name ASC", "version_number ASC"])

    def run(self, steps: int) -> None:
        names = [n for n in dir(self) if n.startswith("step_")]
        weights = [3 if n in ("step_create_version", "step_transition") else 1 for n in names]
        for _ in range(steps):
            getattr(self, self.rng.choices(names, weights)[0])()
            self.check_state()


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import mlflow
    from mlflow import MlflowClient

    base = tmp_path_factory.mktemp("differential")
    tracking = f"sqlite:///{base / 'tracking.db'}"
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    MlflowClient(tracking, registry_uri=tracking).search_registered_models()  # migrate once
    yield base, tracking, MlflowClient
    mlflow.set_tracking_uri(old)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_operations_agree_with_mlflow(clients: Any, seed: int) -> None:
    base, tracking, client_class = clients
    root: Path = base / f"gitreg-{seed}"
    init_registry(root)
    ref_db = base / f"ref-{seed}.db"
    shutil.copy(base / "tracking.db", ref_db)  # an empty, migrated MLflow database
    reference = client_class(tracking, registry_uri=f"sqlite:///{ref_db}")
    subject = client_class(tracking, registry_uri=f"gitreg://{root}")
    machine = Differential(reference, subject, random.Random(seed))
    machine.run(STEPS)
    assert sum(machine.ops.values()) > STEPS


def test_alias_that_looks_like_a_version_is_refused(clients: Any) -> None:
    """MLflow refuses alias 'v1' with INVALID_PARAMETER_VALUE; so should gitreg."""
    base, tracking, client_class = clients
    root = base / "gitreg-alias"
    init_registry(root)
    subject = client_class(tracking, registry_uri=f"gitreg://{root}")
    subject.create_registered_model("m")
    subject.create_model_version("m", "s3://b/1", await_creation_for=0)
    assert _call(subject, "set_registered_model_alias", "m", "v1", "1") == (
        "error",
        "INVALID_PARAMETER_VALUE",
    )


def test_same_stage_transition_still_archives_the_others(clients: Any) -> None:
    """MLflow: v1, v2 in Staging; v2 -> Staging with archiving archives v1."""
    base, tracking, client_class = clients
    root = base / "gitreg-same-stage"
    init_registry(root)
    subject = client_class(tracking, registry_uri=f"gitreg://{root}")
    subject.create_registered_model("m")
    for version in (1, 2):
        subject.create_model_version("m", f"s3://b/{version}", await_creation_for=0)
        subject.transition_model_version_stage("m", version, "Staging")
    subject.transition_model_version_stage("m", 2, "Staging", archive_existing_versions=True)
    assert subject.get_model_version("m", 1).current_stage == "Archived"
