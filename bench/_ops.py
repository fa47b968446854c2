"""The benchmark's operations, one function per (tool, operation), for in-process use.

Each ``open_<tool>(path)`` returns a client; each operation takes ``(client, path, arg)`` and
does what a user of that tool would do. ``arg`` is a model name, or ``name:version`` for a
transition, or ``name:k`` for a register (``k`` makes the source unique). MLflow's equivalents
follow ``mlflow.MlflowClient``; GTO's follow ``gto.api`` (GTO has no aliases, so both resolve
forms look up the version assigned to its ``prod`` stage, the GTO way to name "what is
deployed").
"""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Callable
from typing import Any

Op = Callable[[Any, str, str], object]


def _split(arg: str) -> tuple[str, str]:
    name, _, rest = arg.partition(":")
    return name, rest


def _move(arg: str) -> tuple[str, str, str]:
    """``name:version[:stage]`` -> (name, version, stage; Staging when none is named)."""
    name, rest = _split(arg)
    version, _, stage = rest.partition(":")
    return name, version, stage or "Staging"


def _alias(arg: str) -> tuple[str, str, str]:
    """``name:k:version`` -> (name, a new alias ``benchK``, version): each call changes one."""
    name, rest = _split(arg)
    k, _, version = rest.partition(":")
    return name, f"bench{k}", version


# ----------------------------------------------------------------------------- gitreg


def open_gitreg(path: str) -> Any:
    from gitreg import Registry

    return Registry(path)


GITREG: dict[str, Op] = {
    "resolve_alias": lambda c, p, a: c.resolve(f"models:/{a}@champion"),
    "resolve_stage": lambda c, p, a: c.resolve(f"models:/{a}/Production"),
    "show": lambda c, p, a: c.get_registered_model(a),
    "register": lambda c, p, a: c.create_model_version(
        _split(a)[0], f"s3://bench-new/{_split(a)[0]}/{_split(a)[1]}", run_id="0" * 32
    ),
    "transition": lambda c, p, a: c.transition_model_version_stage(*_move(a)),
    "list": lambda c, p, a: c.search_model_versions(max_results=200_000),
    "alias": lambda c, p, a: c.set_registered_model_alias(*_alias(a)),
    # The unit of the write target (#15): one git process started from the same interpreter.
    "git_spawn": lambda c, p, a: subprocess.run(
        ["git", "--version"], capture_output=True, check=True
    ),
}


# ----------------------------------------------------------------------------- mlflow


def open_mlflow(path: str) -> Any:
    warnings.filterwarnings("ignore")  # stages are deprecated in MLflow 3; we measure them
    import mlflow

    return mlflow.MlflowClient(
        tracking_uri=f"sqlite:///{path}/mlflow.db", registry_uri=f"sqlite:///{path}/mlflow.db"
    )


def _mlflow_list(c: Any) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = c.search_model_versions(max_results=200_000, page_token=token)
        out += page
        token = page.token
        if not token:
            return out


def _mlflow_show(c: Any, name: str) -> object:
    return c.get_registered_model(name), c.search_model_versions(f"name = '{name}'")


MLFLOW: dict[str, Op] = {
    "resolve_alias": lambda c, p, a: c.get_model_version_by_alias(a, "champion").source,
    "resolve_stage": lambda c, p, a: c.get_latest_versions(a, ["Production"])[0].source,
    "show": lambda c, p, a: _mlflow_show(c, a),
    "register": lambda c, p, a: c.create_model_version(
        _split(a)[0], f"s3://bench-new/{_split(a)[0]}/{_split(a)[1]}", run_id="0" * 32
    ),
    "transition": lambda c, p, a: c.transition_model_version_stage(*_move(a)),
    "list": lambda c, p, a: _mlflow_list(c),
    "alias": lambda c, p, a: c.set_registered_model_alias(*_alias(a)),
}


# -------------------------------------------------------------------------------- gto


def open_gto(path: str) -> Any:
    import gto.api

    return gto.api


def _gto_prod(api: Any, path: str, name: str) -> object:
    found = api.find_versions_in_stage(path, name, "prod")
    return found[0].version if isinstance(found, list) else found.version


GTO: dict[str, Op] = {
    "resolve_alias": lambda api, p, a: _gto_prod(api, p, a),
    "resolve_stage": lambda api, p, a: _gto_prod(api, p, a),
    "show": lambda api, p, a: api.show(p, a),
    "register": lambda api, p, a: api.register(p, _split(a)[0], "HEAD"),
    "transition": lambda api, p, a: api.assign(
        p, _split(a)[0], "staging", version=f"v0.0.{_move(a)[1]}"
    ),
    "list": lambda api, p, a: api.show(p),
}

TOOLS: dict[str, tuple[Callable[[str], Any], dict[str, Op]]] = {
    "gitreg": (open_gitreg, GITREG),
    "gitreg@before": (open_gitreg, GITREG),  # the same API, installed from before #15
    "mlflow": (open_mlflow, MLFLOW),
    "gto": (open_gto, GTO),
}
