"""What a mutation sees and does inside a write: ``Transaction``, and manifest paths.

A mutation reads the branch tip through its transaction (its own writes first), and records
the files it changes; the store validates them, commits them and moves the branch. A
transaction never touches the work tree or a ref itself.
"""

from __future__ import annotations

import _thread
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import manifest, patch
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, RETIRED_FILE, Config, Policy
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.fields import now_ms
from gitreg.core.names import check_name, file_stem, name_of_stem
from gitreg.store import _commit, _git, _repo
from gitreg.store.cache import load_large, load_written, parse

if TYPE_CHECKING:
    from gitreg.core.identity import Identity
    from gitreg.store._repo import Repo

Clock = Callable[[], int]  # epoch milliseconds


# gitreg.yaml parsed, by its text: a write read and parsed it twice (where it goes, and
# the policy), 0.7 ms each (#26). A Config is frozen; the text decides it alone.
_CONFIGS: dict[bytes, Config] = {}
_CONFIGS_KEEP = 4
_CONFIGS_LOCK = _thread.allocate_lock()  # a server writes from several threads (#25)


# The models the last transactions of this process compared (before and after), by the
# manifest's path and text: a writer applying other writers' requests in a row (group
# commit, #26) reads as "before" the text it just wrote, 8 ms a parse on a model of 200
# versions. A RegisteredModel is frozen; the text decides it alone.
_MODELS: dict[tuple[str, bytes], RegisteredModel] = {}
_MODELS_KEEP = 4


def _keep_model(path: str, text: bytes, model: RegisteredModel) -> None:
    with _CONFIGS_LOCK:
        _MODELS[(path, text)] = model
        while len(_MODELS) > _MODELS_KEEP:
            del _MODELS[next(iter(_MODELS))]


def parsed_config(text: bytes) -> Config:
    """``Config.from_dict`` of the gitreg.yaml ``text``, parsed once per process."""
    known = _CONFIGS.get(text)
    if known is None:
        known = Config.from_dict(manifest.load_mapping(text, CONFIG_FILE))
        keep_config(text, known)
    return known


def known_config(text: bytes) -> Config | None:
    """The Config of the gitreg.yaml ``text`` if this process parsed it already."""
    return _CONFIGS.get(text)


def keep_config(text: bytes, config: Config) -> None:
    """Remember ``config`` as what the gitreg.yaml ``text`` parses to (a write read it
    through ``Store.read_config`` twice and here once: three YAML parses, #26)."""
    with _CONFIGS_LOCK:
        _CONFIGS[text] = config
        while len(_CONFIGS) > _CONFIGS_KEEP:
            del _CONFIGS[next(iter(_CONFIGS))]


def model_path(name: str) -> str:
    """The manifest path of model ``name``, relative to the registry root."""
    return f"{MODELS_DIR}/{file_stem(check_name(name))}.yaml"


def parse_model(data: Any, path: str, text: bytes | str | None = None) -> RegisteredModel:
    """A RegisteredModel from a parsed manifest; a malformed one raises InvalidManifest.

    The fast path trusts the structure; only a manifest that fails to convert pays for a
    full schema check, so the error names the line and field.
    """
    try:
        if not isinstance(data, Mapping) or not isinstance(data.get("versions", []), list):
            raise TypeError("not a manifest")
        return RegisteredModel.from_manifest(data)
    except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
        from gitreg.core import validate  # error path only

        findings = validate.check_manifest(data, path, text)
        first = str(findings[0]) if findings else f"{path}: {e}"
        more = f" (and {len(findings) - 1} more; run gitreg validate)" if len(findings) > 1 else ""
        raise InvalidManifest(first + more, findings) from e


class Transaction:
    """What a mutation sees: the files at the tip, and the files it changes.

    ``author_as`` is who the commit names as its author when it is not git's identity
    (#25); ``now`` is the time of the write (epoch milliseconds, from ``clock``), the
    ``last_updated_timestamp`` of what it changes.
    """

    def __init__(
        self,
        state_dir: Path,
        repo: Repo,
        base: str | None,
        *,
        author_as: Identity | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.state_dir = state_dir  # where large manifests keep their parse (see cache)
        self.repo = repo
        self.base = base
        self.author_as = author_as
        self.now = (clock or now_ms)()
        self.changes: dict[str, bytes | None] = {}
        self.message = ""
        # Manifest path -> the name its model had before this transaction renamed it.
        self.renamed_from: dict[str, str] = {}
        self._base_cache: dict[str, bytes | None] = {}
        self._data: dict[str, dict[str, Any]] = {}
        # Manifests at the tip that gitreg wrote itself: path -> (text, the data dumped).
        self._written: dict[str, tuple[str, dict[str, Any]]] = {}
        self.written_ids: dict[str, str] = {}  # their blob ids, superseded by this write
        # Patched manifests: known to load back as _data without a parse of the whole file,
        # because the text they patch did (it was checked when gitreg wrote it) and every
        # part the patch wrote was read back on its own (patch.patch_ordered, #15).
        self._proven: set[str] = set()
        # Manifests staged by ``write_checked``: their writer checked what it changed (#26).
        self.checked: set[str] = set()
        # Manifests ``validate`` found valid in full (with ``checked``: what a trusted tree
        # made by this write vouches for, see ``trusted``).
        self.judged: set[str] = set()
        self._base_trusted: bool | None = None

    def policy(self) -> Policy:
        """The policy of the tip's gitreg.yaml (the default policy when there is none)."""
        text = self.read(CONFIG_FILE)
        if not text:
            return Config().policy
        return parsed_config(text).policy

    def model_changes(
        self,
    ) -> list[tuple[RegisteredModel | None, RegisteredModel | None, str | None]]:
        """Each model this transaction changes: (before, after, renamed from); None: absent.

        A rename is one entry: the model as it was under its old name, and as it is now.
        """
        sources = {model_path(old) for old in self.renamed_from.values()}
        found = []
        for path, data in self.changes.items():
            if not path.startswith(f"{MODELS_DIR}/") or path == RETIRED_FILE or path in sources:
                continue
            if not path.endswith(".yaml"):
                continue  # a model card (#29): not a model state
            renamed = self.renamed_from.get(path)
            base_path = model_path(renamed) if renamed is not None else path
            text = self._read_base(base_path)
            before = None
            if text is not None:
                before = _MODELS.get((base_path, text))
                if before is None:
                    parsed = load_large(self.state_dir, text, base_path)
                    before = parse_model(parsed, base_path, text)
            after = None
            if data is not None:
                parsed = self._data.get(path) or parse(data, path)
                after = RegisteredModel.from_manifest(parsed)
                _keep_model(path, data, after)
            found.append((before, after, renamed))
        return found

    def author(self) -> str:
        """Who is writing: the name git records as the commit's author."""
        if self.author_as is not None:
            return self.author_as.name
        return _commit.identity(self.repo)

    def read(self, path: str) -> bytes | None:
        """``path`` as this transaction sees it (its own writes first, then the tip)."""
        if path in self.changes:
            return self.changes[path]
        return self._read_base(path)

    def _read_base(self, path: str) -> bytes | None:
        if path not in self._base_cache:
            self._base_cache[path] = _repo.read_blob(self.repo, self.base, path)
        return self._base_cache[path]

    def base_blob_id(self, path: str) -> str | None:
        """The blob id of ``path`` at the tip, or None.

        A regular file's is read from the trees (a write keeps the ones it made), without
        reading the blob: 1.6 MB for a model with 5,000 versions (#26).
        """
        if path not in self._base_cache and self.repo.fast and self.base is not None:
            from gitreg.store import _odb

            trees = _odb.TreeWriter(self.repo.reader, self.repo.objects, self.repo.trees)
            with contextlib.suppress(GitregError, KeyError):
                return _odb.blob_at(trees, _repo.root_tree(self.repo, self.base), path)
        data = self._read_base(path)
        return None if data is None else _git.blob_id(data)

    def base_trusted(self) -> bool:
        """Whether this clone judged every manifest of the tip's ``models/`` tree valid
        itself (``trusted``): a flat write may then start from any of them (#26)."""
        if self._base_trusted is None:
            from gitreg.store import trusted

            tree = trusted.models_tree(self.repo, self.base)
            self._base_trusted = trusted.holds(self.state_dir, tree)
        return self._base_trusted

    def model_names(self) -> list[str]:
        """Names of the models at the tip plus this transaction's changes."""
        stems = {
            n.removesuffix(".yaml")
            for n in _repo.list_names(self.repo, self.base, MODELS_DIR)
            if n.endswith(".yaml")
        }
        for path, data in self.changes.items():
            if path.startswith(f"{MODELS_DIR}/") and path.endswith(".yaml"):
                stem = path[len(MODELS_DIR) + 1 : -len(".yaml")]
                (stems.add if data is not None else stems.discard)(stem)
        names = (name_of_stem(stem) for stem in stems)
        return sorted(name for name in names if name is not None)

    def read_model(self, name: str) -> tuple[RegisteredModel, dict[str, Any]] | None:
        """The model and its raw manifest at the tip, or None if it does not exist."""
        path = model_path(name)
        text = self.read(path)
        if text is None:
            return None
        oid = _git.blob_id(text)
        data = load_written(self.state_dir, oid)
        if isinstance(data, dict):  # gitreg wrote it: no parse, and the next write patches it
            self._written[path] = (text.decode("utf-8"), data)
            self.written_ids[path] = oid
        else:
            data = load_large(self.state_dir, text, path)
        if not isinstance(data, dict):
            data = manifest.load_mapping(text, path)  # raises the one-line error
        model = parse_model(data, path, text)
        return (model, data) if model.name == name else None

    def write_model(self, model: RegisteredModel, like: Any = None) -> None:
        """Stage ``model``'s manifest, keeping the key order of ``like`` (the old manifest).

        A manifest gitreg wrote itself is patched where it changed (``patch.patch``);
        any other is dumped whole. Both give the same bytes.
        """
        path = model_path(model.name)
        self.checked.discard(path)
        ordered = manifest.ordered_like(model.to_manifest(), like)
        text = None
        written = self._written.get(path)
        if written is not None and written[1] is like:
            text = patch.patch_ordered(written[0], like, ordered)
        self._proven.discard(path)
        if text is None:
            text = manifest.dump(ordered, like)
        else:
            self._proven.add(path)
        self.changes[path] = text.encode()
        self._data[path] = ordered

    def write_checked(self, path: str, text: bytes, replaces: str) -> None:
        """Stage a manifest whose writer checked it, having changed only part of blob
        ``replaces``, which gitreg wrote and checked in full (``services.flat``, #26)."""
        self.changes[path] = text
        self.checked.add(path)
        self._data.pop(path, None)
        self._proven.discard(path)
        self.written_ids[path] = replaces

    def written(self) -> dict[str, dict[str, Any] | None]:
        """The manifests this transaction wrote: path -> the data dumped (for the cache),
        None for one staged by ``write_checked`` (the cache records only that it is)."""
        out: dict[str, dict[str, Any] | None] = dict.fromkeys(self.checked)
        out.update((p, d) for p, d in self._data.items() if p not in self.checked)
        return {p: d for p, d in out.items() if self.changes.get(p) is not None}

    def delete(self, path: str) -> None:
        """Stage the removal of ``path``."""
        self.checked.discard(path)
        self.changes[path] = None

    def write(self, path: str, text: str) -> None:
        """Stage ``text`` as the new content of ``path``."""
        self.checked.discard(path)
        self.changes[path] = text.encode()

    def validate(self) -> None:
        """Schema and invariants for every changed manifest; InvalidManifest lists the findings."""
        from gitreg.core import validate  # writes only

        findings = []
        for path, data in self.changes.items():
            if data is None or path in self.checked:
                continue
            if path == CONFIG_FILE:
                findings += validate.check_config(manifest.load(data, path), path, data)
            elif path == RETIRED_FILE:
                findings += validate.check_retired(manifest.load(data, path), path, data)
            elif path.startswith(f"{MODELS_DIR}/") and path.endswith(".yaml"):
                # The exact bytes about to be committed, parsed as any later read will parse
                # them: text that dumps but does not load back never reaches the branch (#12).
                # A patch proved it part by part; cache.parse is load() for any other text.
                parsed = self._data[path] if path in self._proven else parse(data, path)
                if parsed != self._data.get(path, parsed):
                    raise InvalidManifest(
                        f"{path}: the manifest would not read back as written; nothing was "
                        "committed (please report this with the command you ran)"
                    )
                found = validate.check_manifest(parsed, path, data)
                if not found:
                    self.judged.add(path)
                findings += found
        if findings:
            raise InvalidManifest(f"{findings[0]}; nothing was committed", findings)
