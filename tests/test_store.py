"""Reading registry state: work tree, refs, and the blob-id cache that can never be stale."""

from __future__ import annotations

from gitreg import Registry
from gitreg.store.store import Store
from tests._helpers import git


def _register_many(registry: Registry, count: int) -> None:
    for i in range(count):
        registry.create_model_version(f"m{i:02d}", f"s3://m{i}/1")


def test_read_models_sees_uncommitted_edits_despite_the_cache(registry, registry_repo):
    _register_many(registry, 3)
    store = Store(registry_repo)
    assert [m.name for m in store.read_models()] == ["m00", "m01", "m02"]
    assert (store.state_dir / "cache.marshal").exists()
    path = registry_repo / "models/m01.yaml"
    path.write_text(path.read_text().replace("s3://m1/1", "s3://edited"))
    models = {m.name: m for m in store.read_models()}
    assert models["m01"].versions[0].source == "s3://edited"


def test_read_models_at_a_ref_uses_committed_content(registry, registry_repo):
    _register_many(registry, 2)
    first = git(registry_repo, "rev-parse", "HEAD").strip()
    registry.create_model_version("m00", "s3://m0/2")
    store = Store(registry_repo)
    old = {m.name: len(m.versions) for m in store.read_models(at=first)}
    new = {m.name: len(m.versions) for m in store.read_models(at="HEAD")}
    assert old == {"m00": 1, "m01": 1}
    assert new == {"m00": 2, "m01": 1}


def test_a_corrupt_cache_is_ignored_and_rebuilt(registry, registry_repo):
    _register_many(registry, 2)
    store = Store(registry_repo)
    store.read_models()
    (store.state_dir / "cache.marshal").write_bytes(b"\x00garbage")
    assert [m.name for m in store.read_models()] == ["m00", "m01"]
    assert [m.name for m in Store(registry_repo).read_models()] == ["m00", "m01"]


def test_the_cache_only_keeps_current_manifests(registry, registry_repo):
    _register_many(registry, 2)
    store = Store(registry_repo)
    store.read_models()
    registry.delete_registered_model("m00")
    store.read_models()
    assert len(store._load_cache()) == 1


def test_a_registry_inside_a_linked_worktree_keeps_its_state_in_that_worktree(
    registry, registry_repo, tmp_path
):
    _register_many(registry, 1)
    other = tmp_path / "wt"
    git(registry_repo, "worktree", "add", "-q", "-b", "side", str(other))
    side = Registry(other)
    side.create_model_version("m00", "s3://side/2")
    assert side.get_registered_model("m00").next_version == 3
    assert registry.get_registered_model("m00").next_version == 2
    assert git(other, "status", "--porcelain") == ""


def test_a_large_manifest_is_parsed_once_and_never_read_stale(registry, registry_repo):
    """A model with hundreds of versions keeps its parse by content id (#7)."""
    from gitreg.core import manifest
    from gitreg.core.entities import ModelVersion, RegisteredModel
    from gitreg.store.cache import LARGE_MANIFEST_BYTES

    versions = [
        ModelVersion("big", v, f"s3://big/{v}", description="x" * 80) for v in range(1, 700)
    ]
    model = RegisteredModel("big", aliases={"champion": 5}, next_version=700).with_versions(
        versions
    )
    path = registry_repo / "models/big.yaml"
    path.write_text(manifest.dump(model.to_manifest()))
    assert path.stat().st_size > LARGE_MANIFEST_BYTES
    git(registry_repo, "add", "models/big.yaml")
    git(registry_repo, "commit", "-qm", "A long-lived model")
    assert registry.resolve("models:/big@champion") == "s3://big/5"
    cached = list((Store(registry_repo).state_dir / "parsed").iterdir())
    assert len(cached) == 1
    registry.set_registered_model_alias("big", "champion", 6)
    assert registry.resolve("models:/big@champion") == "s3://big/6"
    cached[0].write_bytes(b"not marshal")
    assert Registry(registry_repo).get_model_version("big", 699).source == "s3://big/699"


def test_a_transaction_lists_each_model_it_changes_once_with_before_and_after(
    registry, registry_repo
):
    """What review policy judges (promotion.guarded): a rename is one change from the old
    name to the new, a new model has no before, a deleted one no after, other files none."""
    from gitreg.store.transaction import Transaction, model_path

    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("fraud", "s3://fraud/1")
    registry.create_model_version("gone", "s3://gone/1")
    store = Store(registry_repo)
    tx = Transaction(store.state_dir, store.repo, git(registry_repo, "rev-parse", "HEAD").strip())
    tx.write("notes.txt", "not a model\n")
    churn = tx.read(model_path("churn"))
    assert churn is not None
    tx.write(model_path("churn2"), churn.decode().replace("name: churn", "name: churn2"))
    tx.delete(model_path("churn"))
    tx.renamed_from[model_path("churn2")] = "churn"
    fraud, data = tx.read_model("fraud") or (None, None)
    assert fraud is not None
    tx.write_model(fraud.with_versions([*fraud.versions]), like=data)
    tx.write(model_path("ghost"), churn.decode().replace("name: churn", "name: ghost"))
    tx.delete(model_path("gone"))

    found = [
        (b and (b.name, len(b.versions)), a and (a.name, len(a.versions)), r)
        for b, a, r in tx.model_changes()
    ]
    assert found == [
        (("churn", 1), ("churn2", 1), "churn"),
        (("fraud", 1), ("fraud", 1), None),
        (None, ("ghost", 1), None),
        (("gone", 1), None, None),
    ]


def test_a_transaction_judges_a_change_to_a_large_model_from_its_cached_parse(
    registry, registry_repo
):
    """Review policy (promotion.guarded) sees a large model as it was before the write: its
    base manifest goes through the large-manifest parse cache (#7) and is kept there."""
    from gitreg.core import manifest
    from gitreg.core.entities import ModelVersion, RegisteredModel
    from gitreg.store.cache import LARGE_MANIFEST_BYTES
    from gitreg.store.transaction import Transaction

    versions = [
        ModelVersion("big", v, f"s3://big/{v}", description="x" * 80) for v in range(1, 700)
    ]
    model = RegisteredModel("big", next_version=700).with_versions(versions)
    path = registry_repo / "models/big.yaml"
    path.write_text(manifest.dump(model.to_manifest()))
    assert path.stat().st_size > LARGE_MANIFEST_BYTES
    git(registry_repo, "add", "models/big.yaml")
    git(registry_repo, "commit", "-qm", "A long-lived model")
    store = Store(registry_repo)
    tx = Transaction(store.state_dir, store.repo, git(registry_repo, "rev-parse", "HEAD").strip())
    big, data = tx.read_model("big") or (None, None)
    assert big is not None
    tx.write_model(big.with_versions(big.versions[:-1]), like=data)

    [(before, after, renamed)] = tx.model_changes()
    assert (before and len(before.versions), after and len(after.versions), renamed) == (
        699,
        698,
        None,
    )
    assert len(list((store.state_dir / "parsed").iterdir())) == 1


def test_a_date_names_the_registry_as_it_was_at_the_last_second_of_that_day(
    registry, registry_repo, monkeypatch
):
    """``--at 2026-03-01`` includes a write committed at 23:59:59 that day, not the next."""
    from tests._helpers import Cli

    for moment, source in [
        ("2026-03-01T10:00:00Z", "s3://churn/1"),
        ("2026-03-01T23:59:59Z", "s3://churn/2"),
        ("2026-03-02T00:00:00Z", "s3://churn/3"),
    ]:
        monkeypatch.setenv("GIT_COMMITTER_DATE", moment)
        monkeypatch.setenv("GIT_AUTHOR_DATE", moment)
        registry.create_model_version("churn", source)
    cli = Cli(registry_repo)
    assert (
        cli.ok("resolve", "models:/churn/latest", "--at", "2026-03-01").stdout == "s3://churn/2\n"
    )
    assert (
        cli.ok("resolve", "models:/churn/latest", "--at", "2026-03-02").stdout == "s3://churn/3\n"
    )


def test_init_refuses_a_remote_url_that_git_would_take_for_an_option_or_split(tmp_path):
    """A URL starting with '-' (an option to ssh or git) or carrying a line break or NUL is
    refused before anything is written: no directory, no repository, no remote."""
    from tests._helpers import Cli

    for url in ["-oProxyCommand=touch pwned", "-u", "https://example.com/r.git\nx", "x\r"]:
        target = tmp_path / "reg"
        result = Cli().fails(1, "init", str(target), "--remote", url)
        assert result.stderr == f"Error: Invalid remote URL {url!r}: give a git URL or path\n"
        assert not target.exists(), f"{url!r}: init wrote something before refusing"


def test_init_with_a_remote_makes_the_branch_track_it(tmp_path, bare_remote):
    """Writes push where ``gitreg init --remote`` pointed (remote origin, tracked branch)."""
    from tests._helpers import Cli

    target = tmp_path / "reg"
    Cli().ok("init", str(target), "--remote", str(bare_remote))
    assert git(target, "remote", "get-url", "origin").strip() == str(bare_remote)
    assert git(target, "config", "branch.main.remote").strip() == "origin"
    assert git(target, "config", "branch.main.merge").strip() == "refs/heads/main"


def test_the_commit_checked_out_is_named_only_at_the_top_of_a_work_tree(registry_repo):
    """What ``gitreg init`` pins its workflow to (gitreg's own checkout, scaffold): a
    directory inside some other repository (a venv's site-packages) names no commit."""
    from gitreg.store.store import repository_head

    assert repository_head(registry_repo) == git(registry_repo, "rev-parse", "HEAD").strip()
    (registry_repo / "lib" / "site-packages").mkdir(parents=True)
    assert repository_head(registry_repo / "lib" / "site-packages") is None
    assert repository_head(registry_repo.parent) is None


def test_read_config_at_a_commit_reads_that_commits_policy(registry_repo):
    """A request is judged by the policy of its base (DESIGN.md), not the work tree's."""
    before = git(registry_repo, "rev-parse", "HEAD").strip()
    path = registry_repo / "gitreg.yaml"
    assert "protected_aliases: [champion]" in path.read_text()
    path.write_text(
        path.read_text().replace("protected_aliases: [champion]", "protected_aliases: [gold]")
    )
    git(registry_repo, "commit", "-qam", "Protect gold instead")
    store = Store(registry_repo)
    assert store.read_config().policy.protected_aliases == ("gold",)
    assert store.read_config(at=before).policy.protected_aliases == ("champion",)


def test_a_missing_model_names_the_nearest_one_in_the_work_tree(registry, registry_repo):
    """A typo gets a hint from the work tree's listing; a read at a commit gives none."""
    import pytest

    from gitreg.core.errors import ModelNotFound

    registry.create_model_version("churn", "s3://churn/1")
    store = Store(registry_repo)
    with pytest.raises(ModelNotFound) as found:
        store.read_model("chrun")
    assert found.value.message == "Registered Model with name=chrun not found; did you mean churn?"
    with pytest.raises(ModelNotFound) as found:
        store.read_model("chrun", at="HEAD")
    assert found.value.message == "Registered Model with name=chrun not found"


def test_reading_named_models_at_a_commit_reads_that_commit(registry, registry_repo):
    """A search by exact names with ``at`` (``gitreg search --at``) sees that commit."""
    _register_many(registry, 2)
    first = git(registry_repo, "rev-parse", "HEAD").strip()
    registry.create_model_version("m00", "s3://m0/2")
    store = Store(registry_repo)
    old = store.read_models(at=first, names=["m00", "nope", "m01"])
    assert [(m.name, len(m.versions)) for m in old] == [("m00", 1), ("m01", 1)]
    now = store.read_models(names=["m00"])
    assert [(m.name, len(m.versions)) for m in now] == [("m00", 2)]


def test_discover_takes_the_path_then_gitreg_repo_then_the_current_directory(
    registry_repo, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (registry_repo / "models").mkdir(exist_ok=True)
    monkeypatch.chdir(registry_repo / "models")
    monkeypatch.delenv("GITREG_REPO", raising=False)
    assert Store.discover().root == registry_repo, "from a subdirectory of the registry"
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("GITREG_REPO", str(registry_repo))
    assert Store.discover().root == registry_repo, "from $GITREG_REPO"
    assert Store.discover(registry_repo / "models").root == registry_repo, "from the path"


def test_discover_outside_any_repository_says_what_to_give(tmp_path):
    import pytest

    from gitreg.core.errors import NotARegistry

    with pytest.raises(NotARegistry) as found:
        Store.discover(tmp_path)
    assert found.value.message == (
        f"{tmp_path} is not a gitreg registry (not inside a git repository); give the path "
        "of a registry, or create one with gitreg init"
    )


def test_a_transaction_lists_the_model_names_its_writes_leave(registry, registry_repo):
    """What name checks see mid-transaction (claim_name, did-you-mean, import): the tip's
    models, plus those written, minus those deleted, decoded from their file names."""
    from gitreg.store.transaction import Transaction, model_path

    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("fraud", "s3://fraud/1")
    store = Store(registry_repo)
    tx = Transaction(store.state_dir, store.repo, git(registry_repo, "rev-parse", "HEAD").strip())
    assert tx.model_names() == ["churn", "fraud"]
    churn = tx.read(model_path("churn"))
    assert churn is not None
    tx.write(model_path("Ab"), churn.decode().replace("name: churn", "name: Ab"))
    tx.write("models/notes.txt", "not a model\n")
    tx.delete(model_path("fraud"))
    assert tx.model_names() == ["Ab", "churn"]


def test_a_malformed_gitreg_yaml_is_refused_naming_its_first_problem(registry_repo):
    import pytest

    from gitreg.core.errors import InvalidManifest

    path = registry_repo / "gitreg.yaml"
    path.write_text(
        path.read_text().replace("protected_aliases: [champion]", "protected_aliases: 7")
    )
    with pytest.raises(InvalidManifest) as found:
        Store(registry_repo).read_config()
    assert found.value.message.startswith("gitreg.yaml:"), found.value.message
    assert "protected_aliases" in found.value.message


def test_a_models_link_is_refused_with_the_fix(registry, registry_repo, tmp_path):
    """``models`` must be the registry's own directory, never a link to one elsewhere."""
    import pytest

    from gitreg.core.errors import NotRegularFile

    registry.create_model_version("churn", "s3://churn/1")
    (registry_repo / "models").rename(tmp_path / "shelf")
    (registry_repo / "models").symlink_to(tmp_path / "shelf")
    with pytest.raises(NotRegularFile) as found:
        Store(registry_repo).read_models()
    assert found.value.message == (
        "models is not a directory (a link?); gitreg reads only a real models/ directory: "
        "replace the link with the directory"
    )


def test_a_transaction_judges_by_the_policy_of_its_tip(registry, registry_repo):
    """promotion.guarded asks tx.policy(): the gitreg.yaml committed at the transaction's
    base, whatever the work tree holds; a tip whose gitreg.yaml is not a mapping is named."""
    import pytest

    from gitreg.core.errors import InvalidManifest
    from gitreg.store.transaction import Transaction

    path = registry_repo / "gitreg.yaml"
    text = path.read_text()
    path.write_text(text.replace("protected_aliases: [champion]", "protected_aliases: [gold]"))
    store = Store(registry_repo)
    tip = git(registry_repo, "rev-parse", "HEAD").strip()
    assert Transaction(store.state_dir, store.repo, tip).policy().protected_aliases == ("champion",)
    path.write_text("- not a mapping\n")
    git(registry_repo, "commit", "-qam", "A broken policy")
    tip = git(registry_repo, "rev-parse", "HEAD").strip()
    with pytest.raises(InvalidManifest) as found:
        Transaction(store.state_dir, store.repo, tip).policy()
    assert found.value.message == "gitreg.yaml:1: expected a mapping at the top level, got list"


def test_a_write_on_a_manifest_that_is_not_a_mapping_names_the_file(registry, registry_repo):
    from tests._helpers import Cli

    registry.create_model_version("churn", "s3://churn/1")
    (registry_repo / "models" / "churn.yaml").write_text("- not a mapping\n")
    git(registry_repo, "commit", "-qam", "A broken manifest")
    result = Cli(registry_repo).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        "Error: models/churn.yaml:1: expected a mapping at the top level, got list\n"
    )
