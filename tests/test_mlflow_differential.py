"""Differential test: the same registry operations against MLflow's own SQLite registry and
against gitreg through the MLflow plugin, compared result by result and error by error.

A hypothesis ``RuleBasedStateMachine`` (#17) builds state: each rule draws its arguments from
what exists (existing names, real versions, aliases on real versions), so most calls succeed
and a failure shrinks to a minimal sequence of calls. Names with spaces and accents, long tag
values, MLflow's system tags and the error cases of #16 are drawn too.

Where gitreg deliberately differs from MLflow (the table "Where gitreg differs from MLflow"
in docs/guides/mlflow.md), the rule checks the difference by its documented rule rather than
skipping it; every such rule is named in ``DIFFERENCES``, and the test fails unless each was
exercised and every operation kind succeeded at least once in the run.

CI runs 12 derandomized examples of up to 40 steps (about a minute). For many more, random
ones:

    GITREG_DIFF_EXAMPLES=2000 python -m pytest tests/test_mlflow_differential.py

(``GITREG_DIFF_STEPS`` sets the operations per example, default 40; ``GITREG_DIFF_SHRINK=0``
reports the first failure as found, without shrinking it, which is faster while exploring.)
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gitreg.core.names import name_key
from gitreg.gate.scaffold import init_registry
from tests._helpers import git

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)

# The table of differences lives in the MLflow guide of the documentation site (#27).
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "mlflow.md"
EXAMPLES = int(os.environ.get("GITREG_DIFF_EXAMPLES", "0"))
STEPS = int(os.environ.get("GITREG_DIFF_STEPS", "40"))
SHRINK = os.environ.get("GITREG_DIFF_SHRINK", "1") != "0"
AUTHOR = "Alice Example"  # the git author tests/conftest.py sets

# Each deliberate difference: its id, and words of its row in the guide's table.
DIFFERENCES = {
    "one-production": "A second version cannot enter Production",
    "case-insensitive-names": "Names are unique case-insensitively",
    "alias-names": "Aliases start with a letter or `_`",
    "archive-code": "`archive_existing_versions=True` with stage `None`/`Archived`",
    "protected-stages": "On a registry with a remote, a change to a protected fact",
    "user-id": "`user_id` is the git author",
    "last-updated": "`last_updated_timestamp` moves on every change",
    "aliases-in-search": "Search results and `latest_versions` carry the versions' aliases",
    "deleted-versions": "Deleted versions are gone from the manifest",
    "source-run": "A `runs:/` source must name the run `run_id` names",
    "tag-key-newline": "A tag key ending in a newline",
    "stage-filter": "`search_model_versions` also filters on `current_stage`",
    "control-names": "Model names cannot contain control characters",
    "retired-names": "A name that a deleted or renamed model had keeps its numbers",
    "deployment-job": "`deployment_job_id` is accepted and ignored",
    "webhooks": "Webhooks are `gitreg.yaml`'s subscriptions",
}

# Every kind of operation must succeed on both sides at least once per run.
OPERATIONS = {
    "create_registered_model",
    "create_model_version",
    "transition_model_version_stage",
    "set_registered_model_tag",
    "delete_registered_model_tag",
    "set_model_version_tag",
    "delete_model_version_tag",
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "get_model_version_by_alias",
    "update_registered_model",
    "update_model_version",
    "rename_registered_model",
    "delete_model_version",
    "delete_registered_model",
    "get_registered_model",
    "get_model_version",
    "get_latest_versions",
    "get_model_version_download_uri",
    "search_registered_models",
    "search_model_versions",
    "register_prompt",
    "load_prompt",
    "create_webhook",
}

NEW_NAMES = ["churn", "Churn Model 2", "modèle-fraude", "CHURN", "fraud.v2", "scoring eu"]
ALIASES = ["champion", "challenger", "canary_1", "Blue-Green"]
TAG_KEYS = [
    "team",
    "mlflow.source.type",
    "mlflow.source:type",
    "équipe",
    "data set/version",
    "mlflow.prompt.text",
]
TAG_VALUES = ["growth", "", "x y", "données", "6,000 characters"]  # see _value


def _value(drawn: str) -> str:
    """A drawn tag value; long ones are drawn by name, so a failure report stays readable."""
    lengths = {"6,000 characters": 6000, "100,000 characters": 100_000}
    return "v" * lengths[drawn] if drawn in lengths else drawn


# First the choices that lead to a difference: hypothesis draws early entries more often.
STAGES = ["Archived", "None", "Production", "Staging", "staging", "PRODUCTION"]
YES_NO = st.sampled_from([True, False])
RUNS = ["r1", "4f2e9a", "7c1d3b"]
MODEL_ORDERS = [
    None,
    ["name ASC"],
    ["name DESC"],
    ["timestamp DESC", "name ASC"],
    ["last_updated_timestamp ASC"],
    ["creation_timestamp DESC"],  # MLflow: not a model order key
    ["version_number"],
]
VERSION_ORDERS = [
    None,
    ["name ASC", "version_number ASC"],
    ["version_number DESC"],
    ["creation_timestamp DESC"],
    ["name DESC", "version_number DESC"],
    ["last_updated_timestamp DESC"],
    ["run_id DESC"],  # MLflow: not a version order key
    ["timestamp DESC"],
]

RUN: dict[str, Counter[str]] = {"ok": Counter(), "differences": Counter()}


# ------------------------------------------------------------------------ normalizing


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _version(mv: Any, aliases: bool = True) -> dict[str, Any]:
    out = {
        "name": mv.name,
        "version": str(mv.version),
        "current_stage": mv.current_stage,
        "description": mv.description,  # None and "" alike in both (#25)
        "source": mv.source,
        "run_id": _text(mv.run_id),
        "run_link": _text(mv.run_link),
        "status": mv.status,
        "tags": dict(mv.tags),
    }
    if aliases:
        out["aliases"] = sorted(mv.aliases)
    return out


def _model(rm: Any) -> dict[str, Any]:
    return {
        "name": rm.name,
        "description": rm.description,
        "tags": dict(rm.tags),
        "aliases": {a: str(v) for a, v in rm.aliases.items()},
        "latest_versions": sorted(
            (_version(mv, aliases=False) for mv in rm.latest_versions or ()),
            key=lambda v: int(v["version"]),
        ),
    }


def _normal(value: Any, ordered: bool) -> Any:
    from mlflow.entities.model_registry import ModelVersion, PromptVersion, RegisteredModel

    if isinstance(value, RegisteredModel):
        return _model(value)
    if isinstance(value, PromptVersion):
        return {"name": value.name, "version": value.version, "template": value.template}
    if isinstance(value, ModelVersion):
        return _version(value)
    if isinstance(value, list):
        items = [
            _version(v, False) if isinstance(v, ModelVersion) else _normal(v, True) for v in value
        ]
        if not ordered:
            items.sort(key=lambda d: (d["name"], int(d.get("version", 0))))
        return {"items": items, "token": bool(getattr(value, "token", None))}
    return value


def _outcome(client: Any, method: str, *args: Any, **kw: Any) -> tuple[str, Any, Any]:
    """("ok", normalized result, raw result) or ("error", error code, message)."""
    from mlflow.exceptions import MlflowException

    try:
        result = getattr(client, method)(*args, **kw)
    except MlflowException as e:
        return "error", e.error_code, e.message
    return "ok", _normal(result, not _by_update(method, kw.get("order_by"))), result


def _by_update(method: str, order_by: Any) -> bool:
    """Whether MLflow orders these results by last_updated_timestamp (see last-updated)."""
    order = order_by or []
    if method == "search_model_versions" and not order:
        return True  # MLflow's default order: last_updated_timestamp DESC
    return method.startswith("search_") and any(
        "timestamp" in o and "creation" not in o for o in order
    )


def _webhook(hook: Any) -> dict[str, Any]:
    """A webhook as both registries must agree on it (ids and timestamps are their own)."""
    return {
        "name": hook.name,
        "url": hook.url,
        "events": [str(e) for e in hook.events],  # in MLflow's order (#25)
        "status": str(hook.status),
        "description": _text(hook.description),
    }


def _prefix(name: str) -> str:
    return name[: max(1, len(name) // 2)]


# ------------------------------------------------------------------------- the machine


class Registries(RuleBasedStateMachine):
    """MLflow's SQLite registry (``ref``) and gitreg through the plugin (``sub``), side by side."""

    base: Path
    tracking: str
    side: Any  # a gitreg registry with a remote, for protected-stages

    def __init__(self) -> None:
        from mlflow import MlflowClient

        super().__init__()
        n = next(_examples)
        db = self.base / f"ref-{n}.db"
        shutil.copy(self.base / "empty.db", db)
        root = self.base / f"gitreg-{n}"
        init_registry(root)
        self.ref = MlflowClient(self.tracking, registry_uri=f"sqlite:///{db}")
        self.sub = MlflowClient(self.tracking, registry_uri=f"gitreg://{root}")
        self.root = root
        # (name, version; 0: the model) whose last_updated_timestamp gitreg and MLflow moved
        # at different steps (see last-updated): left out of the comparison of its order.
        self.diverged: set[tuple[str, int]] = set()
        self.protected_done = False
        self.calls: Counter[str] = Counter()  # rules that need not run often in one example
        self.seen: tuple[list[Any], list[Any]] | None = None
        # What gitreg remembers of names (see retired-names): each live model's next number,
        # and per retired name (by name_key) the number its next version would have had.
        self.next: dict[str, int] = {}
        self.retired: dict[str, tuple[int, str]] = {}
        self.wrote = True  # whether the step may have changed a registry

    # ------------------------------------------------------------- comparing

    def both(self, method: str, *args: Any, **kw: Any) -> tuple[str, Any, Any]:
        writes = not method.startswith(("get_", "search_", "load_"))
        self.wrote = self.wrote or writes
        before = self.times(method, args) if writes else None
        head = git(self.root, "rev-parse", "HEAD") if writes else None
        expected = _outcome(self.ref, method, *args, **kw)
        actual = _outcome(self.sub, method, *args, **kw)
        where = f"{method}{args}{kw}"[:300]
        assert actual[:2] == expected[:2], (
            f"{where}:\n mlflow: {expected[:2]}\n gitreg: {actual[:2]}"
        )
        if expected[0] == "ok":
            RUN["ok"][method] += 1
            self.check_entities(method, expected[2], actual[2])
            self.track(method, args, expected[2])
            if writes:
                committed = git(self.root, "rev-parse", "HEAD") != head
                self.check_moved(method, args, actual[2], before, committed)
                self.follow_updates(method, args, actual[2], committed)
        return actual

    # ------------------------------------------------ last_updated_timestamp (#25)

    def times(self, method: str, args: tuple[Any, ...]) -> tuple[int | None, int | None]:
        """gitreg's last_updated_timestamp of the model a write names, and of its version."""
        if not method.endswith(("_model", "_tag", "_alias", "_version", "_stage")) or not args:
            return None, None
        try:
            model = self.sub.get_registered_model(args[0]).last_updated_timestamp
        except Exception:
            return None, None
        version = None
        if method in _ON_A_VERSION:
            try:
                version = self.sub.get_model_version(args[0], args[1]).last_updated_timestamp
            except Exception:
                version = None
        return model, version

    def check_moved(
        self,
        method: str,
        args: tuple[Any, ...],
        result: Any,
        before: tuple[int | None, int | None] | None,
        committed: bool,
    ) -> None:
        """gitreg's rule: every change moves the model's time, and its version's (#25)."""
        if not committed or before is None or method.startswith("delete_registered"):
            return
        name = args[1] if method == "rename_registered_model" else args[0]
        if method == "register_prompt" or method == "create_webhook":
            return
        after = self.times(method, (name, *args[1:]))
        if before[0] is not None:
            assert after[0] is not None
            assert after[0] > before[0], (method, args, before, after)
        if before[1] is not None and not method.startswith("delete_model_version"):
            assert after[1] is not None
            assert after[1] > before[1], (method, args, before, after)
        if method == "create_model_version":  # the model changed when the version was made
            assert after[0] == result.creation_timestamp == result.last_updated_timestamp

    def follow_updates(
        self, method: str, args: tuple[Any, ...], result: Any, committed: bool
    ) -> None:
        """Which entities' times MLflow and gitreg now hold from different steps.

        MLflow moves a model's for its creation, description, rename, a version created,
        transitioned or deleted; a version's for its creation, stage, description and the
        model's rename. gitreg moves them on every change it commits, tags and aliases too,
        and nothing when a write changes nothing (MLflow's store still moves it).
        """
        name = args[0] if args else ""
        if method == "delete_registered_model":
            self.diverged = {k for k in self.diverged if k[0] != name}
            return
        if method == "rename_registered_model":
            self.diverged = {k for k in self.diverged if k[0] != name}
            name = args[1]
        both, apart = self.moves(method, name, args, result, committed)
        self.diverged -= set(both)
        self.diverged |= set(apart)
        if apart:
            RUN["differences"]["last-updated"] += 1

    def moves(
        self, method: str, name: str, args: tuple[Any, ...], result: Any, committed: bool
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(entities both moved at this step, entities only one of them moved)."""
        model = (name, 0)
        version = (name, int(args[1])) if method in _ON_A_VERSION else None
        if method == "create_model_version":
            return [model, (name, int(result.version))], []
        if method == "delete_model_version" and version is not None:
            self.diverged.discard(version)
            return [model], []
        if method == "update_model_version" and version is not None:
            return ([version], [model]) if committed else ([], [version])
        alike = {
            "create_registered_model": [model],
            "update_registered_model": [model],
            "transition_model_version_stage": [model, version],
            "rename_registered_model": [*self.versions_of(name), model],
        }
        if method in alike:
            moved = [k for k in alike[method] if k is not None]
            return (moved, []) if committed else ([], moved)
        if not committed or method == "create_webhook":
            return [], []
        if method == "register_prompt":
            return [], [model]
        return [], [model] + ([version] if version is not None else [])  # tags, aliases

    def versions_of(self, name: str) -> list[tuple[str, int]]:
        found = self.sub.search_model_versions(f"name = '{name}'")
        return [(name, int(mv.version)) for mv in found]

    def track(self, method: str, args: tuple[Any, ...], result: Any) -> None:
        """Follow the numbers gitreg keeps for names, to know when retired-names applies."""
        if method == "create_registered_model":
            self.next[args[0]] = 1
        elif method == "create_model_version":
            self.next[args[0]] = max(self.next.get(args[0], 1), int(result.version) + 1)
        elif method == "delete_registered_model":
            self.retire(args[0], "deleted")
        elif method == "rename_registered_model":
            old, new = args
            number = self.next.pop(old)
            if name_key(old) != name_key(new):
                floor = self.floor(new)
                self.retired.pop(name_key(new), None)
                self.retired[name_key(old)] = (max(number, self.floor(old)), f"renamed to {new}")
                number = max(number, floor)
            self.next[new] = number

    def floor(self, name: str) -> int:
        return self.retired.get(name_key(name), (1, ""))[0]

    def retire(self, name: str, reason: str) -> None:
        number = max(self.next.pop(name), self.floor(name))
        self.retired[name_key(name)] = (number, reason)

    def gitreg_only(self, difference: str, code: str, method: str, *args: Any, **kw: Any) -> str:
        """A call gitreg refuses and MLflow would take; MLflow's registry is left as it is."""
        outcome = _outcome(self.sub, method, *args, **kw)
        assert outcome[:2] == ("error", code), f"{difference}: {method}{args} -> {outcome[:2]}"
        RUN["differences"][difference] += 1
        return str(outcome[2])

    def check_entities(self, method: str, ref: Any, sub: Any) -> None:
        """The documented rules for what the normal form leaves out."""
        from mlflow.entities.model_registry import ModelVersion, RegisteredModel

        refs, subs = (ref, sub) if isinstance(ref, list) else ([ref], [sub])
        if method.startswith("search_"):  # pages may come in another order (last-updated)
            refs, subs = sorted(refs, key=_key), sorted(subs, key=_key)
        for r, g in zip(refs, subs, strict=True):
            if isinstance(r, RegisteredModel):
                self.check_aliases(r.latest_versions, g.latest_versions, dict(g.aliases))
            if isinstance(r, ModelVersion):
                self.check_user_id(r, g)
        if method == "search_model_versions":
            truth = {}
            for g in subs:
                aliases = self.sub.get_registered_model(g.name).aliases
                truth[(g.name, int(g.version))] = [
                    a for a, v in aliases.items() if int(v) == int(g.version)
                ]
            for r, g in zip(refs, subs, strict=True):
                self.check_aliases([r], [g], dict.fromkeys(truth[_key(g)], g.version))
        elif method == "get_latest_versions":  # here MLflow's carry them too
            assert [sorted(r.aliases) for r in refs] == [sorted(g.aliases) for g in subs]

    def check_aliases(self, refs: Any, subs: Any, aliases: dict[str, Any]) -> None:
        """aliases-in-search: gitreg's versions carry their aliases, MLflow's none."""
        for r, g in zip(refs, subs, strict=True):
            assert not r.aliases
            mine = sorted(a for a, v in aliases.items() if int(v) == int(g.version))
            assert sorted(g.aliases) == mine
            if mine:
                RUN["differences"]["aliases-in-search"] += 1

    def check_user_id(self, ref: Any, sub: Any) -> None:
        assert not ref.user_id
        assert sub.user_id == AUTHOR
        RUN["differences"]["user-id"] += 1

    # ----------------------------------------------------------- what exists

    def snapshot(self) -> tuple[list[Any], list[Any]]:
        """MLflow's models and versions: what the next rule draws from (one read per step)."""
        if self.seen is None:
            models = self.ref.search_registered_models(max_results=1000)
            versions = self.ref.search_model_versions(order_by=["name ASC", "version_number ASC"])
            self.seen = (list(models), list(versions))
        return self.seen

    def names(self) -> list[str]:
        return sorted(m.name for m in self.snapshot()[0])

    def versions(self) -> list[tuple[str, int]]:
        return sorted(_key(mv) for mv in self.snapshot()[1])

    def aliased(self) -> list[tuple[str, str]]:
        return sorted((m.name, a) for m in self.snapshot()[0] for a in m.aliases)

    def has_models(self) -> bool:
        return bool(self.names())

    def has_versions(self) -> bool:
        return bool(self.versions())

    def has_aliases(self) -> bool:
        return bool(self.aliased())

    def _tags(self, data: Any) -> dict[str, str]:
        chosen = data.draw(st.lists(st.sampled_from(TAG_KEYS), max_size=2, unique=True))
        return {k: _value(data.draw(st.sampled_from(TAG_VALUES))) for k in chosen}

    def fewer_than(self, kind: str, limit: int) -> bool:
        return self.calls[kind] < limit

    # ----------------------------------------------------------------- models

    @initialize(data=st.data())
    def start(self, data: Any) -> None:
        """Two models with a version or three each, so that most rules have something to act on."""
        first = data.draw(st.sampled_from(NEW_NAMES), label="first model")
        others = [n for n in NEW_NAMES if n.lower() != first.lower()]
        second = data.draw(st.sampled_from(others), label="second model")
        for name in (first, second):
            self.both("create_registered_model", name, tags={"team": "growth"})
            for _ in range(data.draw(st.integers(1, 3), label=f"versions of {name}")):
                self.both("create_model_version", name, "s3://bucket/model", await_creation_for=0)
        self.both("set_registered_model_alias", first, "champion", "1")
        self.both("transition_model_version_stage", first, "1", "Production", False)
        self.refusals(first)
        if data.draw(YES_NO, label="a prompt"):
            self.prompt(data)

    def refusals(self, name: str) -> None:
        """The refusals that differ from MLflow, once an example: they cost no commit."""
        other_case = name.upper() if name.upper() != name else name.lower()
        self.gitreg_only(
            "case-insensitive-names", "RESOURCE_ALREADY_EXISTS", "create_registered_model",
            other_case,
        )  # fmt: skip
        self.gitreg_only(
            "alias-names", "INVALID_PARAMETER_VALUE", "set_registered_model_alias", name, "1x", "1"
        )
        args = ("transition_model_version_stage", name, "1", "Archived", True)
        expected, actual = _outcome(self.ref, *args), _outcome(self.sub, *args)
        assert expected[:2] == ("error", "INTERNAL_ERROR"), expected
        assert actual[:2] == ("error", "INVALID_PARAMETER_VALUE"), actual
        RUN["differences"]["archive-code"] += 1
        if (name, 2) in self.versions():
            args = ("transition_model_version_stage", name, "2", "Production", False)
            self.gitreg_only("one-production", "RESOURCE_CONFLICT", *args)

    @rule(data=st.data())
    def create_model(self, data: Any) -> None:
        names = self.names()
        # First a name that differs only in case from one that exists (case-insensitive-names).
        ranked = sorted(
            NEW_NAMES, key=lambda n: not any(m.lower() == n.lower() != m for m in names)
        )
        name = data.draw(st.sampled_from(ranked), label="name")
        clash = [n for n in names if n.lower() == name.lower() and n != name]
        tags = self._tags(data)
        description = data.draw(st.sampled_from([None, "Predicts churn", ""]))
        job = data.draw(st.sampled_from(["job-1", None]), label="deployment_job_id")
        if clash:
            self.gitreg_only(
                "case-insensitive-names", "RESOURCE_ALREADY_EXISTS", "create_registered_model", name
            )
            return
        if self.floor(name) > 1:
            self.recreate(name)
            return
        kw = {"tags": tags, "description": description, "deployment_job_id": job}
        self.both("create_registered_model", name, **kw)
        if job is not None:  # accepted and ignored, by MLflow's SQL store and gitreg alike
            RUN["differences"]["deployment-job"] += 1

    def recreate(self, name: str) -> None:
        """retired-names: created again, a name continues after its numbers (MLflow restarts
        at 1). Done on gitreg alone, then deleted again, so the two registries stay alike."""
        floor = self.floor(name)
        for method, args in (
            ("create_registered_model", (name,)),
            ("create_model_version", (name, "s3://b/again")),
            ("delete_registered_model", (name,)),
        ):
            outcome = _outcome(self.sub, method, *args)
            assert outcome[0] == "ok", (method, args, outcome[:2])
            if method == "create_model_version":
                assert int(outcome[2].version) == floor, (name, floor, outcome[2].version)
        self.retired[name_key(name)] = (floor + 1, "deleted")
        RUN["differences"]["retired-names"] += 1

    @precondition(has_models)
    @rule(data=st.data())
    def rename_model(self, data: Any) -> None:
        name = data.draw(st.sampled_from(self.names()), label="name")
        new = data.draw(st.sampled_from([*NEW_NAMES, name.upper(), name + " v2"]), label="new")
        clash = [n for n in self.names() if n.lower() == new.lower() and n not in (new, name)]
        if clash:
            self.gitreg_only(
                "case-insensitive-names", "RESOURCE_ALREADY_EXISTS", "rename_registered_model",
                name, new,
            )  # fmt: skip
            return
        if new.lower() == name.lower() and new != name:
            RUN["differences"]["case-insensitive-names"] += 1  # a rename of its own case: same
        floor = self.floor(new)
        if floor > 1 and name_key(new) != name_key(name):
            self.rename_to_retired(name, new, floor)
            return
        self.both("rename_registered_model", name, new)

    def rename_to_retired(self, name: str, new: str, floor: int) -> None:
        """retired-names: only the model that left a name, or one whose versions all come
        after its numbers, may take it; MLflow lets any model take any free name."""
        reason = self.retired[name_key(new)][1]
        versions = [v for n, v in self.versions() if n == name]
        if reason != f"renamed to {name}" and any(v < floor for v in versions):
            message = self.gitreg_only(
                "retired-names", "INVALID_PARAMETER_VALUE", "rename_registered_model", name, new
            )
            assert "was used by a model that was deleted or renamed" in message
        elif self.next[name] >= floor:  # allowed, and its numbers go on as MLflow's do
            self.both("rename_registered_model", name, new)
            RUN["differences"]["retired-names"] += 1
        # else: allowed, but gitreg's next number would then differ from MLflow's: not drawn

    @precondition(has_models)
    @rule(data=st.data())
    def update_model(self, data: Any) -> None:
        name = data.draw(st.sampled_from(self.names()), label="name")
        text = data.draw(st.sampled_from(["Predicts churn", "", "Nouvelle description"]))
        self.both("update_registered_model", name, text)

    @precondition(has_models)
    @rule(data=st.data())
    def tag_model(self, data: Any) -> None:
        name = data.draw(st.sampled_from(self.names()), label="name")
        key = data.draw(st.sampled_from(TAG_KEYS), label="key")
        value = _value(data.draw(st.sampled_from(TAG_VALUES)))
        self.both("set_registered_model_tag", name, key, value)
        if data.draw(YES_NO, label="then delete"):  # a tag that is set, or not
            self.both("delete_registered_model_tag", name, data.draw(st.sampled_from(TAG_KEYS)))

    @precondition(lambda self: len(self.names()) > 1)
    @rule(data=st.data())
    def delete_model(self, data: Any) -> None:
        self.both("delete_registered_model", data.draw(st.sampled_from(self.names())))

    # --------------------------------------------------------------- versions

    @precondition(has_models)
    @rule(data=st.data())
    def create_version(self, data: Any) -> None:
        name = data.draw(st.sampled_from(self.names()), label="name")
        run = data.draw(st.sampled_from([None, *RUNS]), label="run")
        existing = self.versions()
        sources = ["s3://bucket/model", "/srv/models/m", "runs:/{run}/model"]
        if existing:
            other, number = data.draw(st.sampled_from(existing), label="models source")
            sources.append(f"models:/{other}/{number}")
        source = data.draw(st.sampled_from(sources), label="source").format(run=run or RUNS[0])
        if source.startswith("runs:/"):
            run = source.split("/")[1]  # a run's source names that run (else source-run)
        self.both(
            "create_model_version",
            name,
            source,
            run_id=run,
            tags=self._tags(data),
            description=data.draw(st.sampled_from([None, "first", ""])),
            await_creation_for=0,
        )

    @precondition(has_versions)
    @rule(data=st.data())
    def transition(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        stage = data.draw(st.sampled_from(STAGES), label="stage")
        archive = data.draw(YES_NO, label="archive")
        canonical = stage.capitalize()
        args = ("transition_model_version_stage", name, str(number), stage, archive)
        if archive and canonical in ("None", "Archived"):
            # Both refuse; gitreg says it is the caller's mistake, MLflow a server fault.
            expected, actual = _outcome(self.ref, *args), _outcome(self.sub, *args)
            assert expected[:2] == ("error", "INTERNAL_ERROR"), expected
            assert actual[:2] == ("error", "INVALID_PARAMETER_VALUE"), actual
            RUN["differences"]["archive-code"] += 1
            return
        live = self.ref.get_latest_versions(name, ["Production"])
        if canonical == "Production" and not archive and any(mv.version != number for mv in live):
            message = self.gitreg_only("one-production", "RESOURCE_CONFLICT", *args)
            assert "archive_existing_versions=True" in message
            return
        self.both(*args)

    @precondition(has_versions)
    @rule(data=st.data())
    def promote(self, data: Any) -> None:
        """Production, the stage gitreg keeps to one version (see one-production)."""
        live = {
            mv.name: mv.version for mv in self.snapshot()[1] if mv.current_stage == "Production"
        }
        # First the versions whose promotion meets another one in Production.
        ranked = sorted(self.versions(), key=lambda v: (live.get(v[0]) in (None, v[1]), v))
        name, number = data.draw(st.sampled_from(ranked), label="version")
        archive = data.draw(st.sampled_from([False, True]), label="archive")
        args = ("transition_model_version_stage", name, str(number), "Production", archive)
        live = self.ref.get_latest_versions(name, ["Production"])
        if not archive and any(mv.version != number for mv in live):
            message = self.gitreg_only("one-production", "RESOURCE_CONFLICT", *args)
            assert "archive_existing_versions=True" in message
            return
        self.both(*args)

    @precondition(has_versions)
    @rule(data=st.data())
    def tag_version(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        key = data.draw(st.sampled_from(TAG_KEYS), label="key")
        # MLflow's longest value, once an example: every later write rewrites its manifest.
        longest = ["100,000 characters"] if self.fewer_than("longest", 1) else []
        drawn = data.draw(st.sampled_from([*TAG_VALUES, *longest]))
        self.calls["longest"] += drawn in longest
        self.both("set_model_version_tag", name, str(number), key, _value(drawn))
        if data.draw(YES_NO, label="then delete"):  # a tag that is set, or not
            key = data.draw(st.sampled_from(TAG_KEYS))
            self.both("delete_model_version_tag", name, str(number), key)

    @precondition(has_versions)
    @rule(data=st.data())
    def update_version(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        text = data.draw(st.sampled_from(["F1 0.94", "", "réentraîné"]))
        self.both("update_model_version", name, str(number), text)

    @precondition(has_versions)
    @rule(data=st.data())
    def delete_version(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        top = max(v for n, v in self.versions() if n == name)
        self.both("delete_model_version", name, str(number))
        # Gone on both sides (MLflow keeps a redacted row its API never shows)...
        self.both("get_model_version", name, str(number))
        if number == top:  # ...and neither gives its number again
            expected = self.next[name]
            again = self.both("create_model_version", name, "s3://b/again", await_creation_for=0)
            assert int(again[2].version) == expected > top
            RUN["differences"]["deleted-versions"] += 1

    # ---------------------------------------------------------------- aliases

    @precondition(has_versions)
    @rule(data=st.data())
    def set_alias(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        alias = data.draw(st.sampled_from(["1x", *ALIASES]), label="alias")  # see alias-names
        if alias == "1x":
            self.gitreg_only(
                "alias-names", "INVALID_PARAMETER_VALUE", "set_registered_model_alias",
                name, alias, str(number),
            )  # fmt: skip
            return
        self.both("set_registered_model_alias", name, alias, str(number))

    @precondition(has_aliases)
    @rule(data=st.data())
    def use_alias(self, data: Any) -> None:
        name, alias = data.draw(st.sampled_from(self.aliased()), label="alias")
        if data.draw(YES_NO, label="delete"):
            self.both("delete_registered_model_alias", name, alias)
        self.both("get_model_version_by_alias", name, alias)

    # ------------------------------------------------------------------ reads

    @precondition(has_versions)
    @rule(data=st.data())
    def read(self, data: Any) -> None:
        name, number = data.draw(st.sampled_from(self.versions()), label="version")
        self.both("get_registered_model", name)
        self.both("get_model_version", name, str(number))
        self.both("get_model_version_download_uri", name, str(number))
        stages = data.draw(st.sampled_from([None, ["Production"], ["staging", "None"]]))
        self.both("get_latest_versions", name, stages)
        self.paged("search_model_versions", f"name = '{name}'", ["version_number DESC"], 2)
        for model, alias in self.aliased():
            if model == name:
                self.both("get_model_version_by_alias", name, alias)

    @rule(data=st.data())
    def search_models(self, data: Any) -> None:
        names = self.names() or ["churn"]
        name = data.draw(st.sampled_from(names), label="name")
        filters = [
            None,
            f"name = '{name}'",
            f"name != '{name}'",
            f"name LIKE '{_prefix(name)}%'",
            f"name ILIKE '%{name[-2:].upper()}%'",
            "tags.team = 'growth'",
            "tags.`mlflow.source:type` LIKE '%'",
            "tags.team != 'growth'",
            f"name = '{name}' AND tags.team LIKE 'g%'",
            "name = 'a' OR name = 'b'",
        ]
        self.paged(
            "search_registered_models",
            data.draw(st.sampled_from(filters), label="filter"),
            data.draw(st.sampled_from(MODEL_ORDERS), label="order_by"),
            data.draw(st.sampled_from([1, 2, 100]), label="max_results"),
        )

    @rule(data=st.data())
    def search_versions(self, data: Any) -> None:
        self.search_models(data)
        self.version_search(data)

    def version_search(self, data: Any) -> None:
        names = self.names() or ["churn"]
        name = data.draw(st.sampled_from(names), label="name")
        filters = [
            None,
            f"name = '{name}'",
            f"name IN ('{name}', 'fraud.v2')",
            "run_id = '4f2e9a'",
            "run_id IN ('r1', '7c1d3b')",
            "version_number > 1",
            f"version_number <= 2 AND name = '{name}'",
            "source_path LIKE 's3://%'",
            "tags.équipe = 'données'",
            "current_stage = 'Production'",  # see stage-filter
        ]
        chosen = data.draw(st.sampled_from(filters), label="filter")
        order = data.draw(st.sampled_from(VERSION_ORDERS), label="order_by")
        size = data.draw(st.sampled_from([1, 3, 1000]), label="max_results")
        if chosen and chosen.startswith("current_stage"):
            self.stage_filter(chosen, order)
        else:
            self.paged("search_model_versions", chosen, order, size)

    def stage_filter(self, filter_string: str, order: Any) -> None:
        """gitreg filters on the stage; MLflow refuses the key: gitreg's answer must be
        MLflow's versions in that stage."""
        expected = _outcome(self.ref, "search_model_versions", filter_string, order_by=order)
        assert expected[:2] == ("error", "INVALID_PARAMETER_VALUE"), expected
        kw = {"order_by": order, "max_results": 10_000}
        valid_order = not order or ("run_id DESC" not in order and "timestamp DESC" not in order)
        actual = _outcome(self.sub, "search_model_versions", filter_string, **kw)
        if not valid_order:
            assert actual[:2] == ("error", "INVALID_PARAMETER_VALUE"), actual
            return
        stage = filter_string.split("'")[1]
        wanted = [
            _version(mv, False)
            for mv in self.ref.search_model_versions(max_results=10_000)
            if mv.current_stage == stage
        ]
        got = actual[1]["items"]
        assert sorted(got, key=str) == sorted(wanted, key=str)
        RUN["differences"]["stage-filter"] += 1

    def paged(self, method: str, filter_string: Any, order_by: Any, max_results: int) -> None:
        """Every page: compared page by page where both order alike; where the order rests on
        last_updated_timestamp (see last-updated), the pages together hold the same items."""
        pages: dict[str, list[Any]] = {"ref": [], "sub": []}
        tokens: dict[str, Any] = {"ref": None, "sub": None}
        for _ in range(100):
            outcomes = {}
            for side, client in (("ref", self.ref), ("sub", self.sub)):
                kw = {"order_by": order_by, "max_results": max_results, "page_token": tokens[side]}
                outcomes[side] = _outcome(client, method, filter_string, **kw)
            ref, sub = outcomes["ref"], outcomes["sub"]
            if ref[0] == "error" or not _by_update(method, order_by):  # an order both share
                assert sub[:2] == ref[:2], (method, filter_string, order_by, ref[:2], sub[:2])
                if ref[0] == "error":
                    return
                RUN["ok"][method] += 1
            else:
                assert sub[0] == "ok", (ref[:2], sub[:2])
                assert len(sub[2]) == len(ref[2]), (ref[:2], sub[:2])
                RUN["differences"]["last-updated"] += 1
            for side in ("ref", "sub"):
                pages[side] += outcomes[side][2]
                tokens[side] = outcomes[side][2].token
            assert bool(tokens["ref"]) == bool(tokens["sub"])
            if not tokens["ref"]:
                break
        assert _normal(pages["sub"], False) == _normal(pages["ref"], False)
        self.check_entities(method, pages["ref"], pages["sub"])

    # ---------------------------------------------------------------- prompts

    @precondition(lambda self: self.fewer_than("prompt", 2))
    @rule(data=st.data())
    def prompt(self, data: Any) -> None:
        """A prompt's template is a version tag: 6,000 characters must work (#16)."""
        self.calls["prompt"] += 1
        name = data.draw(st.sampled_from(["greeting", "summary"]), label="prompt")
        long = data.draw(YES_NO, label="6,000-character template")
        body = "Summarise {{text}}. " * 300 if long else "Hello {{name}}!"
        self.both("register_prompt", name, body)
        self.both("load_prompt", name)

    @precondition(lambda self: self.fewer_than("webhooks", 2))
    @rule(data=st.data())
    def webhooks(self, data: Any) -> None:
        """MLflow's webhook API on gitreg.yaml's subscriptions (docs/guides/notifications.md)."""
        self.calls["webhooks"] += 1
        name = data.draw(st.sampled_from(["deploy", "audit"]), label="webhook")
        kw = {"name": name, "url": "https://1.2.3.4/hook", "events": ["model_version.created"]}
        if name in [w.name for w in self.ref.list_webhooks()]:  # gitreg's names are unique
            self.gitreg_only("webhooks", "RESOURCE_ALREADY_EXISTS", "create_webhook", **kw)
            return
        made = [_webhook(c.create_webhook(**kw)) for c in (self.ref, self.sub)]
        assert made[0] == made[1]
        listed = [[_webhook(w) for w in c.list_webhooks()] for c in (self.ref, self.sub)]
        assert listed[0] == listed[1]
        RUN["ok"]["create_webhook"] += 1
        RUN["differences"]["webhooks"] += 1

    # ---------------------------------------------------------- the errors of #16

    @precondition(lambda self: self.fewer_than("refused", 4))
    @rule(data=st.data())
    def refused_alike(self, data: Any) -> None:
        """Mistakes both refuse with the same code (names exist or not)."""
        self.calls["refused"] += 1
        name = data.draw(st.sampled_from([*self.names(), "ghost"]), label="name")
        case = data.draw(st.sampled_from(range(8)), label="case")
        calls: list[tuple[Any, ...]] = [
            ("delete_registered_model_tag", name, None),
            ("set_registered_model_tag", name, "a//b", "x"),
            ("set_registered_model_tag", name, "long", "v" * 100_001),
            ("set_registered_model_tag", name, "bad$key", "x"),
            ("search_model_versions", None, None, ["run_id DESC"]),
            ("search_registered_models", None, 100, ["creation_timestamp DESC"]),
            ("get_latest_versions", name, ["Prod"]),
            ("get_model_version", name, "one"),
        ]
        self.both(*calls[case])

    @precondition(lambda self: self.has_models() and self.fewer_than("refused_by_gitreg", 2))
    @rule(data=st.data())
    def refused_by_gitreg(self, data: Any) -> None:
        """What MLflow's SQL store takes and gitreg refuses, each by its documented rule."""
        self.calls["refused_by_gitreg"] += 1
        name = data.draw(st.sampled_from(self.names()), label="name")
        message = self.gitreg_only(
            "source-run", "INVALID_PARAMETER_VALUE", "create_model_version",
            name, "runs:/4f2e9a/model", "7c1d3b",
        )  # fmt: skip
        assert message.startswith("Invalid model version source: 'runs:/4f2e9a/model'")
        self.gitreg_only(
            "tag-key-newline", "INVALID_PARAMETER_VALUE", "set_registered_model_tag",
            name, "key\n", "x",
        )  # fmt: skip
        self.gitreg_only(
            "control-names", "INVALID_PARAMETER_VALUE", "create_registered_model", "tab\there"
        )
        stage = data.draw(st.sampled_from(["Production", "None"]), label="stage filter")
        order = data.draw(st.sampled_from(VERSION_ORDERS), label="order_by")
        self.stage_filter(f"current_stage = '{stage}'", order)

    @precondition(lambda self: not self.protected_done)
    @rule()
    def protected_stage(self) -> None:
        """On a registry with a remote, Production changes through a request (not moved)."""
        from mlflow.exceptions import MlflowException

        self.protected_done = True
        name = f"m{next(_examples)}"
        self.side.create_registered_model(name)
        mv = self.side.create_model_version(name, "s3://b/1", await_creation_for=0)
        with pytest.raises(MlflowException) as info:
            self.side.transition_model_version_stage(name, mv.version, "Production")
        assert info.value.error_code == "RESOURCE_CONFLICT"
        assert f"gitreg/{name}/v1-production" in info.value.message
        assert self.side.get_model_version(name, 1).current_stage == "None"
        RUN["differences"]["protected-stages"] += 1

    # -------------------------------------------------------------- invariants

    @invariant()
    def same_registries(self) -> None:
        """The whole registry, compared after every step that wrote, and its timestamps' order."""
        if not self.wrote:
            return
        self.wrote = False
        self.seen = None  # draw from MLflow's registry as it is now
        models_ref, ref = self.snapshot()
        models_sub = self.sub.search_registered_models(max_results=1000)
        sub = self.sub.search_model_versions(order_by=["name ASC", "version_number ASC"])
        assert [_model(m) for m in models_sub] == [_model(m) for m in models_ref]
        self.check_entities("search_registered_models", models_ref, models_sub)
        assert [_version(v, False) for v in sub] == [_version(v, False) for v in ref]
        _same_order([v.creation_timestamp for v in ref], [v.creation_timestamp for v in sub])
        _same_order(
            [m.creation_timestamp for m in models_ref], [m.creation_timestamp for m in models_sub]
        )
        # last_updated_timestamp in MLflow's order, wherever both moved it at the same step.
        keep_v = [i for i, v in enumerate(sub) if _key(v) not in self.diverged]
        _same_order(
            [ref[i].last_updated_timestamp for i in keep_v],
            [sub[i].last_updated_timestamp for i in keep_v],
        )
        keep_m = [i for i, m in enumerate(models_sub) if (m.name, 0) not in self.diverged]
        _same_order(
            [models_ref[i].last_updated_timestamp for i in keep_m],
            [models_sub[i].last_updated_timestamp for i in keep_m],
        )
        for version in sub:
            assert version.last_updated_timestamp >= version.creation_timestamp


# The writes whose second argument is a version number.
_ON_A_VERSION = frozenset(
    {
        "transition_model_version_stage",
        "update_model_version",
        "delete_model_version",
        "set_model_version_tag",
        "delete_model_version_tag",
    }
)


def _key(entity: Any) -> tuple[str, int]:
    return entity.name, int(getattr(entity, "version", 0))


def _same_order(ref: list[int], sub: list[int]) -> None:
    """Where MLflow's timestamps say one thing came before another, so do gitreg's."""
    for i, (a, x) in enumerate(zip(ref, sub, strict=True)):
        for b, y in zip(ref[i + 1 :], sub[i + 1 :], strict=True):
            if a < b:
                assert x < y, (ref, sub)
            elif a > b:
                assert x > y, (ref, sub)


_examples = count()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, bare_remote_module: Path) -> Iterator[Any]:
    import mlflow
    from mlflow import MlflowClient

    base = tmp_path_factory.mktemp("differential")
    tracking = f"sqlite:///{base / 'empty.db'}"
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)  # register_prompt and models:/ sources use it
    MlflowClient(tracking, registry_uri=tracking).search_registered_models()  # migrate once
    clone = base / "side"
    git(base, "clone", "-q", str(bare_remote_module), str(clone))
    Registries.base, Registries.tracking = base, tracking
    Registries.side = MlflowClient(tracking, registry_uri=f"gitreg://{clone}")
    yield
    mlflow.set_tracking_uri(old)


@pytest.fixture(scope="module")
def bare_remote_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository standing in for GitHub, seeded with a registry."""
    base = tmp_path_factory.mktemp("remote")
    seed = base / "seed"
    init_registry(seed)
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(seed, "push", "-q", str(remote), "main")
    return remote


def test_operations_agree_with_mlflow(setup: Any) -> None:
    RUN["ok"].clear()
    RUN["differences"].clear()
    run_state_machine_as_test(
        Registries,
        settings=settings(
            max_examples=EXAMPLES or 12,
            stateful_step_count=STEPS,
            derandomize=not EXAMPLES,
            database=None,
            phases=list(Phase) if SHRINK else [Phase.generate],
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert OPERATIONS - set(RUN["ok"]) == set(), "operations that never succeeded"
    assert set(DIFFERENCES) - set(RUN["differences"]) == set(), "differences never exercised"


def test_the_readme_table_lists_exactly_these_differences() -> None:
    text = GUIDE.read_text("utf-8")
    section = text.split("## Where gitreg differs from MLflow", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    rows = rows[1:]  # the header
    assert len(rows) == len(DIFFERENCES), rows
    for words in DIFFERENCES.values():
        assert sum(words in row for row in rows) == 1, words


def test_alias_that_looks_like_a_version_is_refused(setup: Any, tmp_path: Path) -> None:
    """MLflow refuses alias 'v1' with INVALID_PARAMETER_VALUE; so does gitreg."""
    from mlflow import MlflowClient

    init_registry(tmp_path / "r")
    subject = MlflowClient(Registries.tracking, registry_uri=f"gitreg://{tmp_path / 'r'}")
    subject.create_registered_model("m")
    subject.create_model_version("m", "s3://b/1", await_creation_for=0)
    outcome = _outcome(subject, "set_registered_model_alias", "m", "v1", "1")
    assert outcome[:2] == ("error", "INVALID_PARAMETER_VALUE")


def test_same_stage_transition_still_archives_the_others(setup: Any, tmp_path: Path) -> None:
    """MLflow: v1, v2 in Staging; v2 -> Staging with archiving archives v1."""
    from mlflow import MlflowClient

    init_registry(tmp_path / "r")
    subject = MlflowClient(Registries.tracking, registry_uri=f"gitreg://{tmp_path / 'r'}")
    subject.create_registered_model("m")
    for version in (1, 2):
        subject.create_model_version("m", f"s3://b/{version}", await_creation_for=0)
        subject.transition_model_version_stage("m", version, "Staging")
    subject.transition_model_version_stage("m", 2, "Staging", archive_existing_versions=True)
    assert subject.get_model_version("m", 1).current_stage == "Archived"
