"""Build one registry fast: ``python _build.py {gitreg,mlflow,gto} DEST {100,1000,...,long}``.

Runs inside the tool's virtual environment (gitreg and mlflow import their own packages; gto
needs only git). Writes go to the storage directly, never through 30,000 CLI calls:

- gitreg: ``gitreg init``, then every manifest through ``gitreg.core.manifest.dump`` and one commit;
- mlflow: ``SqlAlchemyStore`` creates the schema, then bulk inserts into its own tables;
- gto: one ``git fast-import`` stream with a commit per version and GTO's annotated tags
  (``NAME@vX.Y.Z`` to register, ``NAME#STAGE#N`` to assign; see gto/tag.py, gto/constants.py).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import _data
from _data import ModelSpec

GTO_STAGES = {"Production": "prod", "Staging": "staging"}


def specs(size: str) -> list[ModelSpec]:
    return list(_data.generate_long() if size == "long" else _data.generate(int(size)))


def _git(dest: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", *args], cwd=dest, input=stdin, check=True, capture_output=True)


# ----------------------------------------------------------------------------- gitreg


def build_gitreg(dest: Path, models: Iterable[ModelSpec]) -> None:
    from gitreg.core import manifest
    from gitreg.core.entities import ModelVersion, RegisteredModel, Stage

    subprocess.run(
        [str(Path(sys.executable).with_name("gitreg")), "init", str(dest)],
        check=True,
        capture_output=True,
    )
    (dest / "models").mkdir(exist_ok=True)
    for spec in models:
        versions = tuple(
            ModelVersion(
                name=spec.name,
                version=v.version,
                source=v.source,
                run_id=v.run_id,
                current_stage=Stage(v.stage),
                description=v.description,
                tags=v.tags,
                metrics=v.metrics,
                creation_timestamp=v.created_ms,
                last_updated_timestamp=v.created_ms,
                user_id="bench",
            )
            for v in spec.versions
        )
        model = RegisteredModel(
            name=spec.name,
            creation_timestamp=spec.created_ms,
            description=spec.description,
            tags=spec.tags,
            aliases=spec.aliases,
            versions=versions,
            next_version=spec.next_version,
            user_id="bench",
        )
        text = manifest.dump(model.to_manifest())
        (dest / "models" / f"{spec.name}.yaml").write_text(text, "utf-8")
    _git(dest, "add", "--", "models")
    _git(dest, "commit", "-q", "-m", "Benchmark registry")


# ----------------------------------------------------------------------------- mlflow


def build_mlflow(dest: Path, models: Iterable[ModelSpec]) -> None:
    from mlflow.store.model_registry.dbmodels import models as db
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    dest.mkdir(parents=True, exist_ok=True)
    store = SqlAlchemyStore(f"sqlite:///{dest / 'mlflow.db'}")  # runs MLflow's migrations
    rows: dict[type, list[dict[str, object]]] = {
        db.SqlRegisteredModel: [],
        db.SqlRegisteredModelTag: [],
        db.SqlRegisteredModelAlias: [],
        db.SqlModelVersion: [],
        db.SqlModelVersionTag: [],
    }
    for spec in models:
        last = spec.versions[-1].created_ms
        rows[db.SqlRegisteredModel].append(
            {
                "name": spec.name,
                "creation_time": spec.created_ms,
                "last_updated_time": last,
                "description": spec.description,
            }
        )
        rows[db.SqlRegisteredModelTag] += [
            {"name": spec.name, "key": k, "value": v} for k, v in spec.tags.items()
        ]
        rows[db.SqlRegisteredModelAlias] += [
            {"name": spec.name, "alias": a, "version": n} for a, n in spec.aliases.items()
        ]
        for v in spec.versions:
            rows[db.SqlModelVersion].append(
                {
                    "name": spec.name,
                    "version": v.version,
                    "creation_time": v.created_ms,
                    "last_updated_time": v.created_ms,
                    "description": v.description,
                    "user_id": "bench",
                    "current_stage": v.stage,
                    "source": v.source,
                    "storage_location": v.source,
                    "run_id": v.run_id,
                    "status": "READY",
                }
            )
            rows[db.SqlModelVersionTag] += [
                {"name": spec.name, "version": v.version, "key": k, "value": val}
                for k, val in v.tags.items()
            ]
    with store.ManagedSessionMaker() as session:
        for table, values in rows.items():
            if values:
                session.bulk_insert_mappings(table, values)


# -------------------------------------------------------------------------------- gto


def _gto_stream(models: Iterable[ModelSpec]) -> Iterable[bytes]:
    """A fast-import stream: one commit per version, GTO's annotated tags on them."""

    def data(text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    ident = "bench <bench@example.com>"
    mark = 0
    clock = _data.BASE_MS // 1000
    readme = b"benchmark registry\n"
    yield b"commit refs/heads/main\nmark :1\n"
    yield f"committer {ident} {clock} +0000\n".encode() + data("Initial commit")
    yield b"M 100644 inline README.md\n" + data(readme.decode())
    mark = 1
    for spec in models:
        counter = 0
        for v in spec.versions:
            mark += 1
            clock += 1
            yield f"commit refs/heads/main\nmark :{mark}\n".encode()
            yield f"committer {ident} {clock} +0000\n".encode()
            yield data(f"Train {spec.name} version {v.version}\n\nsource: {v.source}")
            yield f"tag {spec.name}@v0.0.{v.version}\nfrom :{mark}\n".encode()
            yield f"tagger {ident} {clock} +0000\n".encode()
            yield data(f"Registering artifact {spec.name} version v0.0.{v.version}")
            if v.stage in GTO_STAGES:
                counter += 1
                stage = GTO_STAGES[v.stage]
                yield f"tag {spec.name}#{stage}#{counter}\nfrom :{mark}\n".encode()
                yield f"tagger {ident} {clock} +0000\n".encode()
                yield data(f"Assigning stage {stage} to artifact {spec.name}")


def build_gto(dest: Path, models: Iterable[ModelSpec]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "fast-import", "--quiet", stdin=b"".join(_gto_stream(models)))
    _git(dest, "pack-refs", "--all")  # what a clone of a registry with many tags has
    _git(dest, "reset", "-q", "--hard", "main")


BUILDERS = {
    "gitreg": build_gitreg,
    "gitreg@before": build_gitreg,
    "mlflow": build_mlflow,
    "gto": build_gto,
}


def main(argv: list[str]) -> int:
    tool, dest, size = argv
    BUILDERS[tool](Path(dest), specs(size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
