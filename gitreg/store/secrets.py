"""The clone's private secrets: ``.git/gitreg/secrets.json``, mode 0600, never committed.

A secret given through MLflow's webhook API (``create_webhook(secret=...)``) cannot go into
gitreg.yaml, which is public to everyone who can read the repository. It is kept here under
the name of the environment variable the subscription records (``secret_env``), so that
delivery reads the variable first and this file second, and CI gets the same secret from a
repository secret exported under that name (see #13 and the README).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from gitreg.core.errors import GitregError

FILE = "secrets.json"


def _path(state_dir: Path) -> Path:
    return state_dir / FILE


def read_all(state_dir: Path) -> dict[str, str]:
    """Every stored secret by variable name (empty when there is no file)."""
    try:
        text = _path(state_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise GitregError(
            f"{_path(state_dir)} is not valid JSON; fix or remove it and set the secrets again"
        ) from e
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def read(state_dir: Path, name: str) -> str | None:
    """The secret stored under ``name``, or None."""
    return read_all(state_dir).get(name)


def write(state_dir: Path, name: str, value: str | None) -> None:
    """Store (or, with None, forget) the secret under ``name``; the file stays 0600."""
    secrets = read_all(state_dir)
    if value is None:
        if name not in secrets:
            return
        del secrets[name]
    else:
        secrets[name] = value
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secrets.", suffix=".tmp", dir=state_dir)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it 0600 already; say so where we can
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(secrets, f, indent=2, sort_keys=True)
        os.replace(tmp, _path(state_dir))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise
