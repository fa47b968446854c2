"""A cold CLI write re-derives nothing that has not changed since the last one (#26).

A CI job runs one ``gitreg register`` (or ``transition``, ``alias``) per process. What each
new process used to derive again is now read in process or kept in ``.git/gitreg/``
under the identity of what it describes (``gitreg/store/memo.py``):

- loose objects (the tip commit and its trees, written by the last write) are read here,
  not through a ``git cat-file`` process;
- ``git config --list`` is kept under the stat data of every file git reads it from and
  the environment that selects them;
- the entry offsets of a large ``models/`` tree (by the tree's id) and of the shared index
  (by its checksum) are kept, and one entry found by bisection.

Real git judges every result (``cat-file``, ``config``, ``ls-tree``, ``fsck``, ``status``);
a memo that is stale, damaged or describes something else must be ignored. Nothing here
times anything (bench/ does).
"""

from __future__ import annotations

import array
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from gitreg.store import _git, _index_write, _odb
from gitreg.store import memo as store_memo
from tests._helpers import git, head, run_probed, status

# The console script's module in a fresh interpreter; an atexit probe (the fast exit runs
# the callbacks) reports the modules the command loaded.
MODELS = 2100  # a models/ tree of about 84 kB: above _odb.STORE_TREES_ABOVE


def _settle(repo: Path) -> None:
    """Date git's config files back: one changed within the last seconds is never kept
    (it could change again within the same mtime), as a test's just-written config is."""
    old = time.time() - 60
    for path in (repo / ".git" / "config", Path(os.environ["HOME"]) / ".gitconfig"):
        if path.exists():
            os.utime(path, (old, old))


def _fsck(repo: Path) -> None:
    proc = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A registry without a remote: churn 1 and 2, @champion on 1."""
    path = tmp_path / "registry"
    init_registry(path)
    registry = Registry(path)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.set_registered_model_alias("churn", "champion", 1)
    _settle(path)
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A registry of ``MODELS`` models (one version each) with a split index, as a large
    registry's: its models/ tree and shared index are large enough to be kept."""
    path = tmp_path / "big"
    init_registry(path)
    Registry(path).create_model_version("m-00000", "s3://m/0")
    text = (path / "models" / "m-00000.yaml").read_text()
    for i in range(1, MODELS):
        (path / "models" / f"m-{i:05d}.yaml").write_text(
            text.replace("m-00000", f"m-{i:05d}").replace("s3://m/0", f"s3://m/{i}")
        )
    git(path, "add", "-A")
    git(path, "commit", "-qm", "many models")
    git(path, "config", "core.splitIndex", "true")
    git(path, "update-index", "--split-index")
    git(path, "gc", "-q")  # everything packed: the first write reads through git
    _settle(path)
    return path


# ------------------------------------------------------------------ loose objects


def test_a_loose_object_is_read_as_git_cat_file_reads_it(repo: Path) -> None:
    objects = repo / ".git" / "objects"
    tip = head(repo)
    for spec in (tip, f"{tip}^{{tree}}", f"{tip}:models", f"{tip}:models/churn.yaml"):
        oid = git(repo, "rev-parse", spec).strip()
        kind = git(repo, "cat-file", "-t", oid).strip()
        content = subprocess.run(
            ["git", "cat-file", kind, oid], cwd=repo, capture_output=True, check=True
        ).stdout
        assert _odb.read_loose(objects, oid) == (oid, kind, content)
        assert _odb.Reader(repo, objects).read(oid) == (oid, kind, content)


def test_what_is_not_a_sound_loose_object_is_left_to_git(repo: Path) -> None:
    objects = repo / ".git" / "objects"
    tip = head(repo)
    assert _odb.read_loose(objects, tip.upper()) is None  # git's ids are lower case
    assert _odb.read_loose(objects, "0" * 40) is None  # not there
    content = subprocess.run(
        ["git", "cat-file", "commit", tip], cwd=repo, capture_output=True, check=True
    ).stdout
    damaged = objects / tip[:2] / tip[2:]
    sound = damaged.read_bytes()
    os.chmod(damaged, 0o644)
    for data in (b"not zlib", zlib.compress(b"commit 999\0short"), zlib.compress(b"x" * 64)):
        damaged.write_bytes(data)
        assert _odb.read_loose(objects, tip) is None
    damaged.write_bytes(sound)
    git(repo, "gc", "-q", "--prune=now")  # the object is packed, its loose copy gone
    assert not damaged.exists()
    assert _odb.read_loose(objects, tip) is None
    assert _odb.Reader(repo, objects).read(tip) == (tip, "commit", content)  # git reads packs


def test_a_write_after_the_first_starts_no_git_process(repo: Path) -> None:
    first, _loaded = run_probed(repo, "alias", "churn", "first", "2")
    assert first.returncode == 0, first.stderr
    assert (repo / ".git" / "gitreg" / f"{_git.CONFIG_MEMO}.marshal").is_file()
    for args in (
        ["register", "churn", "s3://churn/3"],
        ["transition", "churn", "3", "Staging"],
        ["alias", "churn", "challenger", "3"],
    ):
        proc, loaded = run_probed(repo, *args)
        assert proc.returncode == 0, proc.stderr
        assert "gitreg.services.flat" in loaded  # the write path this is about
        assert "subprocess" not in loaded, args  # no git config, no cat-file: no process
    model = Registry(repo).get_registered_model("churn")
    assert model.aliases == {"champion": 1, "first": 2, "challenger": 3}
    assert model.versions[2].current_stage.value == "Staging"
    assert status(repo) == ""
    _fsck(repo)


# ------------------------------------------------------------------ git's configuration


def _config_of_git(repo: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "config", "-z", "--list"], cwd=repo, capture_output=True, check=True
    ).stdout
    pairs = (record.decode().partition("\n") for record in out.split(b"\0") if record)
    return {key: value for key, _, value in pairs}


def _fresh_config(repo: Path) -> dict[str, str]:
    """``_git.git_config`` as a new process finds it (nothing known in memory)."""
    _git._CONFIG_CACHE.clear()
    return _git.git_config(repo)


def test_the_remembered_configuration_is_gits_and_an_edit_is_seen(repo: Path) -> None:
    memo = repo / ".git" / "gitreg" / f"{_git.CONFIG_MEMO}.marshal"
    memo.unlink(missing_ok=True)
    assert _fresh_config(repo) == _config_of_git(repo)
    assert memo.is_file()
    assert _fresh_config(repo) == _config_of_git(repo)  # from the memo
    git(repo, "config", "remote.origin.url", "https://example.com/registry.git")
    config = _fresh_config(repo)  # the file changed: git is asked again
    assert config["remote.origin.url"] == "https://example.com/registry.git"
    assert config == _config_of_git(repo)


def test_a_configuration_read_in_another_environment_is_not_used(repo: Path, monkeypatch) -> None:
    assert _fresh_config(repo) == _config_of_git(repo)
    home = repo.parent / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Someone Else\n")
    old = time.time() - 60
    os.utime(home / ".gitconfig", (old, old))
    monkeypatch.setenv("HOME", str(home))
    assert _fresh_config(repo)["user.name"] == "Someone Else"
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'user.name'='Given'")
    assert _fresh_config(repo)["user.name"] == "Given"


def test_a_configuration_with_an_include_or_just_changed_is_not_kept(repo: Path) -> None:
    memo = repo / ".git" / "gitreg" / f"{_git.CONFIG_MEMO}.marshal"
    extra = repo.parent / "extra.gitconfig"
    extra.write_text("[gitreg]\n\tprobe = one\n")
    git(repo, "config", "include.path", str(extra))
    memo.unlink(missing_ok=True)
    assert _fresh_config(repo)["gitreg.probe"] == "one"
    assert not memo.exists()  # the included file is not in the signature: never kept
    _settle(repo)
    assert _fresh_config(repo)["gitreg.probe"] == "one"
    assert not memo.exists()
    extra.write_text("[gitreg]\n\tprobe = two\n")
    assert _fresh_config(repo)["gitreg.probe"] == "two"
    git(repo, "config", "--unset", "include.path")  # just written: racy, not kept either
    assert "gitreg.probe" not in _fresh_config(repo)
    assert not memo.exists()


@pytest.mark.parametrize(
    "damage",
    [b"", b"not marshal", b"\xff" * 64, "list"],
)
def test_a_damaged_configuration_memo_is_ignored(repo: Path, damage: bytes | str) -> None:
    memo = repo / ".git" / "gitreg" / f"{_git.CONFIG_MEMO}.marshal"
    assert _fresh_config(repo) == _config_of_git(repo)
    if damage == "list":  # well-formed marshal, wrong shapes (and the right signature)
        signature = store_memo.load(memo.parent, _git.CONFIG_MEMO)[0][0]
        store_memo.save(memo.parent, _git.CONFIG_MEMO, [(signature, {"user.name": 7}), (1, 2)])
    else:
        assert isinstance(damage, bytes)
        memo.write_bytes(damage)
    assert _fresh_config(repo) == _config_of_git(repo)
    assert _fresh_config(repo) == _config_of_git(repo)  # and the memo is whole again


# ------------------------------------------------------------------ large trees


def _tree(names: list[bytes]) -> bytes:
    """A tree's bytes with ``names`` (a name ending in '/' is a subtree), in git's order."""
    entries = []
    for i, name in enumerate(names):
        subtree = name.endswith(b"/")
        mode = _odb.TREE_MODE if subtree else _odb.FILE_MODE
        entries.append((name, mode, name.rstrip(b"/"), bytes([i % 256]) * 20))
    entries.sort()
    return b"".join(b"%s %s\0%s" % (mode, bare, oid) for _key, mode, bare, oid in entries)


NAMES = [b"a", b"a.b", b"a/", b"b-c", b"b/", b"m-1.yaml", b"m-10.yaml", b"m-2.yaml", b"z z"]


def test_an_entry_found_through_offsets_is_the_one_splitting_the_tree_finds() -> None:
    raw = _tree([n for n in NAMES if n != b"a/"])  # a file and a subtree may not share a name
    split = _odb.Tree(raw)
    offsets = [start for start, _end in split.spans.values()]
    for name in [n.rstrip(b"/") for n in NAMES] + [b"", b"m-3.yaml", b"zz", b"a.b/"]:
        memo = _odb.Tree(raw, array.array("I", offsets))
        assert memo.find(name) == split.spans.get(name), name
        assert memo.entry(name) == split.entry(name), name
        assert memo.offsets is not None  # trusted: every offset it used was sound


@pytest.mark.parametrize(
    "wrong",
    [
        [0, 3, 9],  # not where entries start
        [],  # no entry at all
        [1],  # not starting at the first byte
        "another tree's",
    ],
)
def test_offsets_that_do_not_fit_the_tree_are_dropped_and_it_is_split(wrong: object) -> None:
    raw = _tree(NAMES[1:])
    split = _odb.Tree(raw)
    if wrong == "another tree's":
        other = _odb.Tree(_tree([b"x" * 30, *NAMES[1:]]))
        wrong = [start for start, _end in other.spans.values()]
    assert isinstance(wrong, list)
    for name in NAMES:
        memo = _odb.Tree(raw, array.array("I", wrong))
        assert memo.find(name) == split.spans.get(name), name
    replaced = _odb.Tree(raw, array.array("I", wrong)).with_entry(
        b"m-2.yaml", _odb.FILE_MODE, "ab" * 20
    )
    assert replaced.raw == split.with_entry(b"m-2.yaml", _odb.FILE_MODE, "ab" * 20).raw


def _memo_files(repo: Path) -> list[str]:
    folder = repo / ".git" / "gitreg" / "offsets"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _models_tree(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD:models").strip()


def _shared(repo: Path) -> str:
    """The shared index ``.git/index`` links to (not an older one git has not expired)."""
    view = _index_write.split_view((repo / ".git" / "index").read_bytes())
    assert view is not None
    return next(body[:20].hex() for sig, body in view[1] if sig == b"link")


def _models(repo: Path) -> list[str]:
    listing = git(repo, "ls-tree", "--name-only", "HEAD:models").split()
    return [name for name in listing if name.endswith(".yaml")]


def test_large_tree_and_shared_index_offsets_are_kept_and_the_writes_are_gits(
    big: Path,
) -> None:
    for k, args in enumerate(
        (
            ["register", "m-00007", "s3://m/7b"],  # packed: read through git, then kept
            ["register", "m-01999", "s3://m/1999b"],  # found through the kept offsets
            ["transition", "m-00007", "1", "Staging"],
            ["alias", "m-01234", "champion", "1"],
            ["register", "m-99999", "s3://new"],  # a new model: the tree grows
            ["register", "m-00000", "s3://m/0b"],
        )
    ):
        proc, _loaded = run_probed(big, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        files = _memo_files(big)  # one of each at most: the others are dropped
        assert [f[:5] for f in files] == (["share", "tree-"] if k != 4 else ["share"]), files
        if k not in (0, 4):  # after a new model, the next write splits the tree and keeps it
            assert f"tree-{_models_tree(big)}" in files
    # A write that makes git write a new shared index (its first ones, after its gc) keeps
    # the offsets of the one it read: the next write keeps the new one's.
    assert run_probed(big, "alias", "m-00000", "best", "2")[0].returncode == 0
    assert _memo_files(big) == [f"shared-{_shared(big)}", f"tree-{_models_tree(big)}"]
    names = _models(big)
    assert len(names) == MODELS + 1
    assert "m-99999.yaml" in names
    assert status(big) == ""
    _fsck(big)
    registry = Registry(big)
    assert [v.source for v in registry.get_registered_model("m-01999").versions] == [
        "s3://m/1999",
        "s3://m/1999b",
    ]
    assert registry.get_model_version("m-00007", 1).current_stage.value == "Staging"
    assert registry.get_registered_model("m-01234").aliases == {"champion": 1}


@pytest.mark.parametrize("kind", ["tree", "shared"])
@pytest.mark.parametrize("damage", ["garbage", "shifted", "truncated"])
def test_a_stale_or_damaged_offsets_memo_is_ignored(big: Path, kind: str, damage: str) -> None:
    for k in range(1, 9):  # git makes new shared indexes at the first writes (after its gc)
        assert run_probed(big, "register", f"m-0000{k}", f"s3://m/{k}b")[0].returncode == 0
        if _memo_files(big) == [f"shared-{_shared(big)}", f"tree-{_models_tree(big)}"]:
            break
    oid = _models_tree(big) if kind == "tree" else _shared(big)
    path = big / ".git" / "gitreg" / "offsets" / f"{kind}-{oid}"
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\0" * len(data))
    elif damage == "truncated":
        path.write_bytes(data[:-4])
    else:  # well-formed and CRC-checked, but offsets that are not this object's
        if kind == "tree":
            size = len(
                subprocess.run(
                    ["git", "cat-file", "tree", oid], cwd=big, capture_output=True, check=True
                ).stdout
            )
        else:
            size = (big / ".git" / f"sharedindex.{oid}").stat().st_size
        kept = store_memo.load_offsets(path.parent.parent, kind, oid, size)
        assert kept is not None
        assert len(kept) > MODELS
        shifted = [kept[0], *(o + 8 for o in kept[1:])]
        store_memo.save_offsets(path.parent.parent, kind, oid, size, shifted, None)
    for args in (["register", "m-01500", "s3://m/1500b"], ["alias", "m-00002", "c", "1"]):
        proc, _loaded = run_probed(big, *args)
        assert proc.returncode == 0, (damage, proc.stderr)
    assert len(_models(big)) == MODELS
    assert status(big) == ""
    _fsck(big)
    registry = Registry(big)
    assert registry.get_registered_model("m-01500").versions[-1].source == "s3://m/1500b"
    assert registry.get_registered_model("m-00002").aliases == {"c": 1}


def test_a_blob_compressed_in_pieces_is_one_that_loads_the_piece_writer() -> None:
    """``_odb`` loads ``_deflate`` for a blob of ``_PIECES_FROM`` bytes or more (else it
    asks the one already loaded): every blob ``_deflate`` would compress in pieces by
    default must be one."""
    from gitreg.store import _deflate

    assert _odb._PIECES_FROM <= _deflate.LARGE
    assert _odb._piece_writer(_odb._PIECES_FROM) is _deflate


# ------------------------------------------------------------------ records' methods


@pytest.fixture
def inits(tmp_path: Path, monkeypatch) -> Path:
    """``record_code``'s file in a temporary place, and nothing known in memory: a new
    process's view."""
    from gitreg.core import record_code

    path = tmp_path / "record.test.inits"
    monkeypatch.setattr(record_code, "_path", lambda: str(path))
    monkeypatch.setattr(record_code, "_codes", None)
    monkeypatch.setattr(record_code, "_fresh", False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return path


def _a_record_class() -> type:
    from gitreg.core import record

    @record.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 2
        tags: list[str] = record.field(default_factory=list)

    return Point


def test_a_records_compiled_init_is_kept_and_behaves_as_compiled(inits: Path) -> None:
    from gitreg.core import record_code

    fresh = _a_record_class()
    record_code.save()
    assert inits.is_file()
    record_code._codes, record_code._fresh = None, False  # a new process
    kept = _a_record_class()
    assert not record_code._fresh  # nothing compiled: the kept code served
    for cls in (fresh, kept):
        assert repr(cls(1)).endswith("Point(x=1, y=2, tags=[])")
        assert cls(1, 3, ["a"]) == cls(x=1, y=3, tags=["a"])
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(AttributeError):
            cls(1).x = 5  # type: ignore[misc]


@pytest.mark.parametrize("damage", [b"", b"garbage", "other magic", "wrong shape", "bad code"])
def test_a_damaged_or_foreign_records_file_is_ignored(inits: Path, damage: bytes | str) -> None:
    import marshal

    from gitreg.core import record_code

    if damage == "other magic":
        data = marshal.dumps((b"\0\0\r\n", {}))
    elif damage == "wrong shape":
        data = marshal.dumps([1, 2])
    elif damage == "bad code":  # a code object for another file under a record's source
        data = marshal.dumps((record_code._magic(), {"x": compile("y = 1", "other", "exec")}))
    else:
        assert isinstance(damage, bytes)
        data = damage
    inits.write_bytes(data)
    cls = _a_record_class()
    assert repr(cls(1)).endswith("Point(x=1, y=2, tags=[])")
    assert record_code._fresh  # compiled, not taken from the file
    record_code.save()
    record_code._codes = None
    assert record_code._load()  # whole again


def test_no_records_file_is_written_where_python_writes_no_bytecode(
    inits: Path, monkeypatch
) -> None:
    from gitreg.core import record_code

    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    _a_record_class()
    record_code.save()
    assert not inits.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("http.https://example.com/.extraheader", "AUTHORIZATION: bearer s3cr3t"),
        ("credential.helper", "store"),
        ("url.https://x-token:s3cr3t@example.com/.insteadof", "https://example.com/"),
        ("gitreg.apitoken", "s3cr3t"),
        ("remote.origin.url", "https://user:s3cr3t@example.com/registry.git"),
    ],
)
def test_a_configuration_that_may_hold_a_credential_is_never_copied(
    repo: Path, key: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rest of such a configuration is kept (a credential helper in the system file
    ran ``git config`` in every write, #26): the entry itself is withheld, neither its
    value nor a name holding it written; a later process answers the rest from the memo
    and asks git for the withheld entry."""
    memo = repo / ".git" / "gitreg" / f"{_git.CONFIG_MEMO}.marshal"
    git(repo, "config", key, value)
    _settle(repo)
    memo.unlink(missing_ok=True)
    wanted = key.lower() if key.count(".") < 2 else key
    assert _fresh_config(repo)[wanted] == value
    assert memo.is_file()
    assert b"s3cr3t" not in memo.read_bytes()
    calls: list[object] = []
    real = _git.run
    monkeypatch.setattr(_git, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    later = _fresh_config(repo)
    assert later.get("core.bare") == "false"
    assert "core.filemode" in later
    assert later.get("user.nosuchthing") is None
    assert calls == []  # the memo answered
    assert later.get(wanted) == value  # withheld: git's own answer
    assert len(calls) == 1
    assert later[wanted] == value
    assert wanted in later
    assert len(calls) == 1  # read once
    git(repo, "config", "--unset", key)
    _settle(repo)
    assert key not in _fresh_config(repo)
    assert memo.is_file()  # the same clone without it: kept
    assert b"s3cr3t" not in memo.read_bytes()


def test_unchanged_offsets_are_renamed_to_the_new_trees_name(tmp_path: Path) -> None:
    """A same-size change of a large tree keeps its offsets: the file the write loaded is
    renamed to the new tree's name (not written again); other offsets are written."""
    offsets = list(range(12, 90_000, 44))
    store_memo.save_offsets(tmp_path, "tree", "a" * 40, 90_012, offsets, None)
    folder = tmp_path / "offsets"
    first = (folder / f"tree-{'a' * 40}").read_bytes()
    inode = (folder / f"tree-{'a' * 40}").stat().st_ino
    assert list(store_memo.load_offsets(tmp_path, "tree", "a" * 40, 90_012) or []) == offsets
    store_memo.save_offsets(tmp_path, "tree", "b" * 40, 90_012, offsets, "a" * 40)
    assert sorted(p.name for p in folder.iterdir()) == [f"tree-{'b' * 40}"]
    assert (folder / f"tree-{'b' * 40}").stat().st_ino == inode  # renamed
    assert (folder / f"tree-{'b' * 40}").read_bytes() == first
    assert list(store_memo.load_offsets(tmp_path, "tree", "b" * 40, 90_012) or []) == offsets
    moved = [*offsets[:-1], offsets[-1] + 8]  # another tree's: written, not renamed
    store_memo.save_offsets(tmp_path, "tree", "c" * 40, 90_020, moved, "b" * 40)
    assert sorted(p.name for p in folder.iterdir()) == [f"tree-{'c' * 40}"]
    assert list(store_memo.load_offsets(tmp_path, "tree", "c" * 40, 90_020) or []) == moved
    # Offsets that were not the ones loaded (the file changed since) are written too.
    store_memo.save_offsets(tmp_path, "tree", "d" * 40, 90_020, offsets, "c" * 40)
    assert list(store_memo.load_offsets(tmp_path, "tree", "d" * 40, 90_020) or []) == offsets
