"""The distribution: what pyproject.toml declares, and the built wheel working on its own (#27).

The wheel test builds the sdist from a copy of the project's files (those git tracks, or
would), then the wheel from that sdist (``python -m build``), installs the wheel without its
dependencies into a new virtual environment, and runs the ``gitreg`` command that the wheel
installed there: ``--version``, ``init``, ``register``, ``resolve``, ``validate`` (the JSON
Schemas load from the wheel) and ``site`` (the templates and static files ship).

The dependencies (GitPython, PyYAML, jsonschema, click, ...) are the test environment's own,
reached through a path line in a ``.pth`` file of the new environment: a path added that way
is searched for modules, but the ``.pth`` files inside it are not run, so the editable
install of this checkout stays off. The test checks that ``gitreg`` is imported from the new
environment. What it proves: the wheel (and the sdist it was built from) holds every module,
schema, template and static file, the console script and the entry points, and a
non-editable install works from any directory. What it does not: that pip resolves the
dependencies from an index (that is pip's job; their names are checked against
pyproject.toml).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gitreg.core.version import __version__
from tests._helpers import git

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parent.parent
DIST = "gitreg-ml"  # `gitreg` on PyPI is someone else's package (#27)
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _declared() -> set[str]:
    return set(CONFIG["tool"]["setuptools"]["packages"])


def test_every_subpackage_is_declared_for_the_wheel():
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gitreg").rglob("__init__.py")
    }
    missing = found - _declared()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_schemas_are_shipped_as_package_data():
    assert "gitreg.schemas" in _declared()
    from importlib import resources

    names = {p.name for p in resources.files("gitreg.schemas").iterdir()}
    assert {"manifest.schema.json", "config.schema.json"} <= names


def test_the_distribution_is_not_the_gitreg_on_pypi_and_every_install_line_names_it():
    """``pip install gitreg`` fetches an unrelated 0.0.1 (#27): every install line in the
    documentation and the messages names the distribution, extras included."""
    assert CONFIG["project"]["name"] == DIST
    assert CONFIG["project"]["scripts"] == {"gitreg": "gitreg._entry:main"}
    assert CONFIG["project"]["optional-dependencies"]["dev"][0] == f"{DIST}[test]"
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    texts += sorted((ROOT / "gitreg").rglob("*.py"))
    for path in texts:
        text = path.read_text("utf-8")
        for wrong in (
            "pip install gitreg ",
            "pip install gitreg\n",
            "install 'gitreg[",
            "gitreg==",
        ):
            assert wrong not in text, f"{path.relative_to(ROOT)} says {wrong.strip()!r}"


def test_no_file_of_the_project_is_ignored():
    """An ignore pattern that matches a tracked file (``site/`` matched ``gitreg/site/``)
    hides every new file beside it from ``git add -A``, from the sdist below and from
    pre-commit's copy of the hook repository."""
    ignored = git(ROOT, "ls-files", "--cached", "--ignored", "--exclude-standard")
    assert ignored == "", f"tracked files that .gitignore matches:\n{ignored}"


# ----------------------------------------------------------------------- the built wheel


def _project_copy(target: Path) -> Path:
    """The files git tracks (or would: new files not ignored), copied; nothing else."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An sdist, and a wheel built from that sdist (build's default), in one directory."""
    pytest.importorskip("build", reason="the test extra installs build")
    work = tmp_path_factory.mktemp("dist")
    source = _project_copy(work / "src")
    out = work / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the wheel (installed by pip) and no gitreg else."""
    env = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / ("Scripts" if os.name == "nt" else "bin") / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    proc = subprocess.run(
        [*install, "--no-index", "--disable-pip-version-check", "-q", str(_wheel(dist))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies: the test environment's site-packages, as a plain path (see above).
    (Path(purelib) / "_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", "utf-8"
    )
    return env


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = venv / ("Scripts" if os.name == "nt" else "bin") / "gitreg"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GITREG_REPO")}
    return subprocess.run(
        [str(exe), *args], cwd=cwd, capture_output=True, text=True, env=environ, check=False
    )


def test_the_sdist_and_the_wheel_carry_the_data_files(dist: Path):
    (sdist,) = dist.glob("gitreg_ml-*.tar.gz")
    assert sdist.name == f"gitreg_ml-{__version__}.tar.gz"
    names = set(zipfile.ZipFile(_wheel(dist)).namelist())
    for data in (
        "gitreg/py.typed",
        "gitreg/schemas/manifest.schema.json",
        "gitreg/schemas/config.schema.json",
        "gitreg/site/templates/invalid.html",  # the index is built from strings (#26)
        "gitreg/site/static/site.css",
        "gitreg/site/static/site.js",
    ):
        assert data in names, f"the wheel lacks {data}"
    assert not any(n.startswith(("tests/", "docs/", "bench/")) for n in names)


def test_the_wheel_declares_the_command_the_mlflow_plugin_and_the_dependencies(dist: Path):
    wheel = zipfile.ZipFile(_wheel(dist))
    info = f"gitreg_ml-{__version__}.dist-info"
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "[console_scripts]\ngitreg = gitreg._entry:main" in entry_points
    assert "[mlflow.model_registry_store]" in entry_points
    assert "gitreg = gitreg.mlflow.store:GitregStore" in entry_points
    assert "gitreg+file = gitreg.mlflow.store:GitregStore" in entry_points
    metadata = wheel.read(f"{info}/METADATA").decode()
    assert "Name: gitreg-ml\n" in metadata
    requires = {
        line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist")
    }
    for dependency in CONFIG["project"]["dependencies"]:
        assert dependency in requires, dependency
    assert 'mlflow<4,>=3; extra == "mlflow"' in requires


def test_the_installed_wheel_is_a_working_gitreg(venv: Path, tmp_path: Path):
    """From a directory outside the project: init, register, resolve, validate and site."""
    where = _run(venv, "--version", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout == f"gitreg, version {__version__}\n"
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    origin = subprocess.run(
        [str(python), "-c", "import gitreg.schemas, gitreg; print(gitreg.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(origin).is_relative_to(venv), f"gitreg imported from {origin}, not the wheel"

    registry = tmp_path / "registry"
    assert _run(venv, "init", str(registry), cwd=tmp_path).returncode == 0
    registered = _run(venv, "register", "churn", "runs:/abc123/model", cwd=registry)
    assert (registered.returncode, registered.stdout) == (0, "1\n"), registered.stderr
    alias = _run(venv, "alias", "churn", "champion", "1", cwd=registry)
    assert alias.returncode == 0, alias.stderr
    resolved = _run(venv, "resolve", "models:/churn@champion", cwd=registry)
    assert (resolved.returncode, resolved.stdout) == (0, "runs:/abc123/model\n"), resolved.stderr

    valid = _run(venv, "validate", "--format", "json", cwd=registry)
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["valid"] is True
    # The schema itself is at work: a field it does not allow is a SCHEMA finding.
    manifest = registry / "models" / "churn.yaml"
    manifest.write_text(manifest.read_text() + "colour: blue\n")
    invalid = _run(venv, "validate", "--format", "json", cwd=registry)
    assert invalid.returncode == 1
    assert "SCHEMA" in {f["code"] for f in json.loads(invalid.stdout)["findings"]}
    git(registry, "checkout", "--", "models/churn.yaml")

    site = _run(venv, "site", str(tmp_path / "catalog"), cwd=registry)
    assert site.returncode == 0, site.stderr
    index = (tmp_path / "catalog" / "index.html").read_text("utf-8")
    assert "churn" in index
    assert list((tmp_path / "catalog").rglob("*.css")), "the stylesheet ships"
    assert git(registry, "status", "--porcelain") == ""
