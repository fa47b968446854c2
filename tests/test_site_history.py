"""A full build makes each model's events where its pages render (#26, ``site.history``).

The catalog of a full build walks the history once and leaves the diffing of each model's
changes to the process that renders the model. Every test compares those events with the
events of the whole history grouped by model (``collect`` without ``deferred``, what every
build did before), on real registries with real commits: merged pull requests, a model
changed more often than ``MAX_DEFERRED``, a rename, a manifest that names another model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitreg import Registry
from gitreg.site import api, build
from gitreg.site.builder import model_files
from gitreg.site.catalog import Catalog, collect
from gitreg.site.history import MAX_DEFERRED
from gitreg.site.render import Pages
from tests._helpers import git
from tests._site import registry_and_clone

original, work = registry_and_clone("history")


def whole(root: Path) -> dict[str, tuple[Any, int]]:
    """Each model's events and last change from the whole history, grouped at once."""
    catalog = collect(Registry(root))
    assert catalog.history is None
    return {e.name: (e.events, e.last_modified) for e in catalog.models}


def made_apart(catalog: Catalog) -> dict[str, tuple[Any, int]]:
    """Each model's events and last change as the process rendering it makes them."""
    done = [catalog.complete(entry) for entry in catalog.models]
    return {e.name: (e.events, e.last_modified) for e in done}


def test_each_models_events_made_apart_are_those_of_the_whole_history(original):
    catalog = collect(Registry(original), deferred=True)
    assert catalog.history is not None
    assert all(entry.events == () for entry in catalog.models)  # not made yet
    apart = made_apart(catalog)
    assert apart == whole(original)
    assert all(events for events, _last in apart.values())
    # churn-predictor changed more often than MAX_DEFERRED: its events were made during the
    # walk (no path holds more than a few states); fraud's wait as states.
    kinds = {
        path: {type(item).__name__ for item in items}
        for path, items in catalog.history.by_path.items()
    }
    assert kinds["models/churn-predictor.yaml"] == {"list"}
    assert kinds["models/fraud.yaml"] == {"tuple"}
    assert len(apart["churn-predictor"][0]) > MAX_DEFERRED


def test_a_rename_makes_every_event_at_once(work):
    reg = Registry(work)
    reg.rename_registered_model("fraud", "fraud-detector")
    catalog = collect(reg, deferred=True)
    assert catalog.history is None  # a change across two paths: not split
    apart = made_apart(catalog)
    assert apart == whole(work)
    kinds = [e.event.kind.value for e in apart["fraud-detector"][0]]
    assert kinds[0] == "REGISTERED_MODEL_CREATED"
    assert "REGISTERED_MODEL_RENAMED" in kinds


def test_a_manifest_naming_another_model_makes_every_event_at_once(work):
    """A hand-written manifest at beta.yaml that says it is fraud, then removed: the whole
    history's grouping gives fraud that file's creation and deletion, and so must a build."""
    text = (work / "models" / "fraud.yaml").read_text("utf-8")
    (work / "models" / "beta.yaml").write_text(text, "utf-8")
    git(work, "add", "models/beta.yaml")
    git(work, "commit", "-qm", "A copy by hand")
    git(work, "rm", "-q", "models/beta.yaml")
    git(work, "commit", "-qm", "Remove the copy")
    catalog = collect(Registry(work), deferred=True)
    assert catalog.history is None
    assert made_apart(catalog) == whole(work)


def test_pages_from_events_made_apart_are_those_of_the_whole_history(original, tmp_path):
    """Every file of every model a full build wrote (events made per model) is the file
    rendered from the whole history's events, byte for byte."""
    out = tmp_path / "out"
    report = build(Registry(original), out, full=True)
    catalog = collect(Registry(original))
    pages = Pages(catalog)
    tip = catalog.verified.commit if catalog.verified else None
    facts = api.build_facts(catalog.commit, catalog.worktree, tip)
    written: dict[str, bytes] = {}

    def keep(relative: str, data: bytes) -> tuple[str, int, int]:
        written[relative] = data
        return "", len(data), 0

    compared = 0
    for entry in catalog.models:
        written.clear()
        model_files(pages, catalog, entry, facts, keep)
        for relative, data in written.items():
            assert (out / relative).read_bytes() == data, relative
            compared += 1
    assert report.models == len(catalog.models)
    assert compared > 3 * len(catalog.models)
