"""Fast dumping and patching give exactly PyYAML's bytes (#15), on many shapes.

``manifest.dump_fast`` writes the shapes gitreg produces without PyYAML's emitter, and
``patch.patch`` rewrites only what changed in a manifest gitreg wrote. Both must be
byte-identical to the full PyYAML dump (``manifest._dump_yaml``), or decline (None) so the
caller dumps in full: property-based over generated manifests (hand-written key orders,
multi-line and unicode text, strings YAML would read as other types), and through the
store for hand-written and hostile manifests.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core import manifest, patch
from tests._helpers import git

TRICKY = [
    "yes", "No", "on", "null", "~", "", " lead", "trail ", "x: y", "a #b", "#c", "- d",
    "? e", ": f", "g:", "1:20", "0x1F", "1e3", ".5", "-.inf", "2026-11-23T04:28:59Z",
    "2026-11-23T04:28:59.285Z", "2026-11-23", "'quoted'", '"double"', "it's", "a\tb",
    "line\nbreak", "ends\n", "\n", "two\n\nbreaks\n", "  indented\nblock", "é", "模型",
    "emoji 🙂", "\u2028", "\ufeff", "x" * 300, "s3://bucket/key", "runs:/abc/model",
    "[x", "x]", "{y}", "a,b", "%tag", "@at", "`tick", "!bang", "&amp", "*star", "|pipe",
    ">gt", "---", "...", "<<", "=", "Archived", "None", "True", "f1",
]  # fmt: skip

text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=30),
    st.text(alphabet="abcXYZ019 _-./:#'\"\n", max_size=20),
)
key = st.one_of(st.sampled_from(["team", "f1", "a b", "x.y", "yes", "1", "é"]), text)
number = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from([0.1, 1e17, 1e-05, 0.94, -0.0, 3.0]),
)
scalar = st.one_of(text, number, st.booleans(), st.none())


def _shuffled(data: dict[str, Any], seed: int) -> dict[str, Any]:
    keys = list(data)
    random.Random(seed).shuffle(keys)
    return {k: data[k] for k in keys}


@st.composite
def version(draw: st.DrawFn, at: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": at, "source": draw(text)}
    for field in ("run_id", "description", "created_at", "created_by"):
        if draw(st.booleans()):
            entry[field] = draw(st.one_of(text, scalar))
    entry["stage"] = draw(st.sampled_from(["None", "Staging", "Production", "Archived"]))
    if draw(st.booleans()):
        entry["tags"] = draw(st.dictionaries(key, text, max_size=3))
    if draw(st.booleans()):
        entry["metrics"] = draw(st.dictionaries(key, number, max_size=3))
    return _shuffled(entry, draw(st.integers(0, 3))) if draw(st.booleans()) else entry


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 5))
    data: dict[str, Any] = {"schema_version": 1, "name": draw(text)}
    if draw(st.booleans()):
        data["description"] = draw(text)
    if draw(st.booleans()):
        data["tags"] = draw(st.dictionaries(key, text, max_size=3))
    if draw(st.booleans()):
        data["aliases"] = draw(st.dictionaries(key, st.integers(1, 9), max_size=2))
    data["next_version"] = count + 1
    data["versions"] = [draw(version(n)) for n in range(1, count + 1)]
    if draw(st.booleans()):  # a hand-written file: its own key order
        data = _shuffled(data, draw(st.integers(0, 100)))
    return data


@st.composite
def changes(draw: st.DrawFn, old: dict[str, Any]) -> dict[str, Any]:
    """What a write does to a manifest: register, transition, alias, tag, describe."""
    new = copy.deepcopy(old)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(["register", "stage", "alias", "tag", "describe", "delete", "clear"])
        )
        versions = new["versions"]
        if kind == "register" or not versions:
            at = new["next_version"]
            versions.append(draw(version(at)))
            new["next_version"] = at + 1
        elif kind == "stage":
            target = draw(st.sampled_from(versions))
            target["stage"] = draw(st.sampled_from(["Staging", "Production", "Archived"]))
        elif kind == "alias":
            new.setdefault("aliases", {})[draw(key)] = draw(st.sampled_from(versions))["version"]
        elif kind == "tag":
            draw(st.sampled_from(versions)).setdefault("tags", {})[draw(key)] = draw(text)
        elif kind == "delete":
            versions.remove(draw(st.sampled_from(versions)))
        elif kind == "clear":
            versions.clear()  # the last version deleted: "versions: []" (a bug once)
        else:
            new["description"] = draw(text)
    return new


@settings(max_examples=400, deadline=None)
@given(manifests())
def test_fast_dump_is_pyyaml_byte_for_byte_or_declines(data):
    fast = manifest.dump_fast(data)
    if fast is not None:
        assert fast == manifest._dump_yaml(data)
    assert manifest.dump(data) == manifest._dump_yaml(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_patch_is_the_full_dump_byte_for_byte_or_declines(data):
    old = data.draw(manifests())
    written = manifest.dump(old)  # the store keeps the data it dumped next to the blob
    new = data.draw(changes(old))
    patched = patch.patch(written, old, new)
    if patched is not None:
        assert patched == manifest._dump_yaml(new, like=old)


def test_a_registration_on_a_long_model_is_patched_not_re_emitted():
    versions = [
        {"version": n, "source": f"s3://m/{n}", "stage": "Archived",
         "created_at": "2026-11-23T04:28:59.285Z", "metrics": {"f1": 0.9}}
        for n in range(1, 2001)
    ]  # fmt: skip
    old = {"schema_version": 1, "name": "long", "next_version": 2001, "versions": versions}
    written = manifest.dump(old)
    new = copy.deepcopy(old)
    new["versions"].append({"version": 2001, "source": "s3://m/new", "stage": "None"})
    new["next_version"] = 2002
    new["versions"][5]["stage"] = "Production"
    patched = patch.patch(written, old, new)
    assert patched is not None, "a plain registration and transition must be patched"
    assert patched == manifest._dump_yaml(new, like=old)


HAND_WRITTEN = {
    "comments": "# owned by growth\nschema_version: 1\nname: churn  # the name\n"
    "next_version: 2\nversions:\n  - version: 1\n    source: s3://c/1\n    stage: None\n",
    "flow style": "{schema_version: 1, name: churn, next_version: 2, versions: "
    "[{version: 1, source: 's3://c/1', stage: None}]}\n",
    "quoted and indentless": 'schema_version: 1\nname: "churn"\nnext_version: 2\nversions:\n'
    "- version: 1\n  source: 's3://c/1'\n  stage: None\n",
    "anchors": "schema_version: 1\nname: churn\nnext_version: 2\ntags: &t {team: a}\n"
    "versions:\n  - version: 1\n    source: s3://c/1\n    stage: None\n    tags: *t\n",
    "extra blank lines": "schema_version: 1\n\nname: churn\n\nnext_version: 2\n\nversions:\n"
    "\n  - version: 1\n\n    source: s3://c/1\n    stage: None\n",
}


def test_a_hand_written_manifest_is_rewritten_in_full(registry_repo: Path):
    """Only a manifest gitreg wrote is patched; any other gets the full, canonical dump."""
    path = registry_repo / "models" / "churn.yaml"
    for label, text in HAND_WRITTEN.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        git(registry_repo, "add", "models/churn.yaml")
        git(registry_repo, "commit", "-qm", f"hand-written: {label}")
        old = manifest.load(text, "models/churn.yaml")
        Registry(registry_repo).create_model_version("churn", f"s3://c/{label}")
        written = path.read_text()
        expected = manifest.load(written, "models/churn.yaml")
        assert written == manifest._dump_yaml(expected, like=old), label
        assert expected["versions"][-1]["source"] == f"s3://c/{label}"


def test_the_store_patches_what_it_wrote_and_the_result_is_the_full_dump(registry_repo: Path):
    registry = Registry(registry_repo)
    registry.create_registered_model("churn", description="line one\nline two\n")
    for n in range(1, 6):
        registry.create_model_version("churn", f"s3://c/{n}", tags={"team": "modèle é"})
    registry.transition_model_version_stage("churn", 3, "Production")
    registry.set_registered_model_alias("churn", "champion", 3)
    text = (registry_repo / "models" / "churn.yaml").read_text()
    data = manifest.load(text, "models/churn.yaml")
    assert text == manifest._dump_yaml(data, like=data)
    written = list((registry_repo / ".git" / "gitreg" / "written").iterdir())
    assert written, "the store did not record the manifests it wrote"


@settings(max_examples=400, deadline=None)
@given(manifests())
def test_a_canonical_manifest_reads_back_as_pyyaml_reads_it(data):
    text = manifest.dump(data)
    fast = patch.load_canonical(text, "models/m.yaml")
    if fast is not None:
        assert fast == manifest.load(text, "models/m.yaml")
        assert manifest.dump_fast(fast) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab:-' \n#{}[]&*!|>%@0123.\t", max_size=80))
def test_any_other_text_is_left_to_the_full_loader(text):
    fast = patch.load_canonical(text, "models/m.yaml")
    if fast is not None:
        assert fast == manifest.load(text, "models/m.yaml")


def test_hand_written_and_hostile_manifests_are_left_to_the_full_loader():
    for text in HAND_WRITTEN.values():
        assert patch.load_canonical(text, "models/churn.yaml") is None
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    assert patch.load_canonical(bomb, "models/m.yaml") is None
    assert patch.load_canonical(b"name: caf\xe9\n", "models/m.yaml") is None
    assert patch.load_canonical("a: 1\na: 2\n", "models/m.yaml") is None


def test_the_record_of_a_superseded_manifest_is_forgotten(registry_repo: Path):
    """The written/ records stay one per manifest in a linear history (#15): a 5,000-version
    model's record is a megabyte, and every write would otherwise add one."""
    registry = Registry(registry_repo)
    for n in range(1, 6):
        registry.create_model_version("churn", f"s3://c/{n}")
        registry.create_model_version("fraud", f"s3://f/{n}")
    written = list((registry_repo / ".git" / "gitreg" / "written").iterdir())
    assert len(written) == 2


def test_a_document_end_marker_is_never_patched_into_the_middle():
    """PyYAML ends a manifest whose last tag value keeps its newlines (``|2+``) with "...":
    appending a version after it must not leave that marker, which ends the YAML document,
    in the middle of the file (found by the property test above)."""
    from gitreg.core.patch import patch as patch_text

    one = {"version": 1, "source": "s3://a", "stage": "None", "tags": {"team": "\n"}}
    two = {"version": 2, "source": "s3://b", "stage": "None"}
    old = {"schema_version": 1, "name": "churn", "next_version": 2, "versions": [one]}
    new = {**old, "next_version": 3, "versions": [one, two]}
    old_text = manifest.dump(old)
    assert old_text.endswith("\n...\n")
    patched = patch_text(old_text, old, new)
    assert patched in (None, manifest.dump(new))
    assert manifest.load(manifest.dump(new), "models/churn.yaml") == new
    for tail in (new, {**new, "versions": [two, {**one, "version": 3}], "next_version": 4}):
        text = patch_text(manifest.dump(new), new, tail)
        assert text is None or manifest.load(text, "models/churn.yaml") == tail
