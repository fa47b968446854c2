"""The static read API (#29): MLflow's REST shapes in api/, and ``resolve --site`` reading them.

The API files are parsed strictly by MLflow's own protos and written back by MLflow's own
JSON writer: what gitreg writes is exactly what MLflow's REST API would answer. The site is
served by a real HTTP server on 127.0.0.1 standing in for GitHub Pages or a CDN (it sends
ETags and answers If-None-Match with 304, as they do); the registries are tests/_site.py's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from mlflow.entities.model_registry import ModelVersion as MlflowVersion
from mlflow.entities.model_registry import RegisteredModel as MlflowModel
from mlflow.protos import model_registry_pb2 as pb
from mlflow.utils.proto_json_utils import message_to_json, parse_dict

from gitreg import Registry
from gitreg._entry import resolve_fast
from gitreg.core.errors import InvalidManifest, ModelNotFound
from gitreg.registry import RemoteRegistry
from gitreg.site import build
from tests._helpers import Cli
from tests._site import BROKEN_DIR, BROKEN_NAME, make_registry, make_unverified_registry


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api") / "registry"
    make_registry(root)
    out = tmp_path_factory.mktemp("api-out") / "site"
    build(Registry(root), out)
    return out


@pytest.fixture(scope="module")
def unverified_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api-trust") / "registry"
    make_unverified_registry(root)
    out = tmp_path_factory.mktemp("api-trust-out") / "site"
    build(Registry(root), out)
    return out


def strict(data: dict, message):
    """``data`` parsed by MLflow's proto (an unknown field or a wrong type fails), and back."""
    parse_dict(data, message)
    return json.loads(message_to_json(message))


def written(data):
    """``data`` as MLflow's JSON writer gives it: empty lists are left out."""
    if isinstance(data, dict):
        return {k: written(v) for k, v in data.items() if v != []}
    if isinstance(data, list):
        return [written(v) for v in data]
    return data


# --------------------------------------------------------------------- the shapes


def test_every_model_document_is_mlflows_rest_answer(site):
    documents = sorted((site / "api" / "models").glob("*.json"))
    assert len(documents) == 3
    for path in documents:
        document = json.loads(path.read_text("utf-8"))
        model = document["registered_model"]
        assert strict(model, pb.RegisteredModel()) == written(model), path.name
        for version in document["model_versions"]:
            assert strict(version, pb.ModelVersion()) == written(version), path.name
        assert MlflowModel.from_proto(_proto(model)).name == model["name"]
    churn = json.loads((site / "api/models/churn-predictor.json").read_text("utf-8"))
    entity = MlflowModel.from_proto(_proto(churn["registered_model"]))
    assert entity.aliases == {"champion": "1"}
    assert entity.tags == {"team": "growth", "priority": "critical"}
    assert [(v.version, v.current_stage) for v in entity.latest_versions] == [
        ("1", "Production"),
        ("2", "Archived"),
    ]
    v2 = MlflowVersion.from_proto(_version_proto(churn["model_versions"][1]))
    assert (v2.source, v2.run_id, v2.tags) == (
        "s3://models/churn/2",
        "bbb222",
        {"validation": "passed"},
    )
    assert {m.key: m.value for m in _version_proto(churn["model_versions"][1]).model_metrics} == {
        "f1": 0.94,
        "auc": 0.97,
    }
    facts = churn["gitreg"]
    assert facts["storage_locations"] == {"2": "s3://artifacts/churn/2"}
    assert facts["unverified"] is False
    assert len(facts["commit"]) == 40


def _proto(model: dict) -> pb.RegisteredModel:
    message = pb.RegisteredModel()
    parse_dict(model, message)
    return message


def _version_proto(version: dict) -> pb.ModelVersion:
    message = pb.ModelVersion()
    parse_dict(version, message)
    return message


def test_the_index_document_is_a_search_answer_with_the_build(site, tmp_path):
    document = json.loads((site / "api/models.json").read_text("utf-8"))
    answer = {"registered_models": document["registered_models"]}
    assert strict(answer, pb.SearchRegisteredModels.Response()) == written(answer)
    names = [m["name"] for m in document["registered_models"]]
    assert names[:2] == ["churn-predictor", "fraud"]
    facts = document["gitreg"]
    assert facts["models"] == 3
    assert facts["invalid_models"] == []
    assert facts["worktree"] is True
    assert len(facts["commit"]) == 40


def test_an_invalid_model_is_an_error_document_never_state(unverified_site):
    bad = json.loads((unverified_site / f"api/models/{BROKEN_DIR}.json").read_text("utf-8"))
    assert bad["error_code"] == "INVALID_STATE"
    assert "registered_model" not in bad
    assert bad["gitreg"]["invalid"] is True
    assert {f["code"] for f in bad["gitreg"]["findings"]} >= {"MULTIPLE_PRODUCTION"}
    index = json.loads((unverified_site / "api/models.json").read_text("utf-8"))
    assert [m["name"] for m in index["registered_models"]] == ["churn", "fraud"]
    assert [m["name"] for m in index["gitreg"]["invalid_models"]] == [BROKEN_NAME]
    assert index["gitreg"]["unverified_models"] == ["churn"]
    assert index["gitreg"]["verified_tip"] is not None


# -------------------------------------------------------------- a host serving it


class _Host(BaseHTTPRequestHandler):
    """Static files with strong ETags and 304s, as GitHub Pages and CDNs serve them."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("If-None-Match")))
        override = self.server.overrides.get(self.path)
        if override is not None:
            self._answer(200, override)
            return
        path = (self.server.root / unquote(self.path.split("?")[0]).lstrip("/")).resolve()
        if not path.is_file() or self.server.root not in path.parents:
            self._answer(404, b"not found")
            return
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self._answer(200, body, etag)

    def _answer(self, status: int, body: bytes, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


@contextmanager
def hosting(root: Path) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    server.root = root.resolve()
    server.seen = []
    server.overrides = {}
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def test_resolve_site_answers_from_the_static_api(site, cache, capsys):
    with hosting(site) as server:
        url = url_of(server)
        assert Cli().ok("resolve", "models:/churn-predictor@champion", "--site", url).stdout == (
            "runs:/aaa111/model\n"
        )
        data = json.loads(
            Cli().ok("resolve", "models:/fraud/Staging", "--site", url, "--json").stdout
        )
        assert data["model_version"]["source"] == "s3://models/fraud/1"
        assert resolve_fast(["resolve", "models:/churn-predictor/2", "--site", url]) == 0
        assert capsys.readouterr().out == "s3://models/churn/2\n"
        paths = [path for path, _etag in server.seen]
    assert paths[0] == "/api/models/churn-predictor.json"
    assert "/api/models/fraud.json" in paths


def test_an_unchanged_document_is_a_304_in_the_process_and_the_next(site, cache):
    with hosting(site) as server:
        reader = RemoteRegistry(url_of(server), site=True)
        assert reader.resolve("models:/churn-predictor@champion") == "runs:/aaa111/model"
        assert reader.resolve("models:/churn-predictor/2") == "s3://models/churn/2"
        assert reader.commit is not None
        fresh = RemoteRegistry(url_of(server), site=True)  # another pod on the node
        assert fresh.resolve("models:/churn-predictor/latest") == "s3://models/churn/2"
        asked = [etag for path, etag in server.seen]
    assert asked[0] is None
    assert asked[1] is not None
    assert asked[2] == asked[1]  # the disk cache carried the ETag to the next process


def test_the_site_refuses_what_it_marks_invalid_and_unverified(unverified_site, cache):
    with hosting(unverified_site) as server:
        url = url_of(server)
        result = Cli().fails(1, "resolve", f"models:/{BROKEN_NAME}/1", "--site", url)
        assert "the site refuses" in result.stderr
        assert f"models/{BROKEN_DIR}.yaml is invalid" in result.stderr
        assert result.stderr.count("\n") == 1
        assert Cli().ok("resolve", "models:/churn/Production", "--site", url).stdout == (
            "s3://churn/2\n"
        )
        result = Cli().fails(1, "resolve", "models:/churn/Production", "--site", url, "--verified")
        assert "changed after the verified tip" in result.stderr
        assert (
            Cli().ok("resolve", "models:/fraud/1", "--site", url, "--verified").stdout
            == "s3://fraud/1\n"
        )
        Cli().fails(1, "resolve", "models:/ghost/1", "--site", url)
        with pytest.raises(ModelNotFound):
            RemoteRegistry(url, site=True).get_registered_model("ghost")


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        json.dumps({"registered_model": {"name": "fraud"}, "model_versions": []}).encode(),
        json.dumps(
            {"registered_model": {"name": "churn-predictor"}, "model_versions": [{}]}
        ).encode(),
        json.dumps(
            {
                "registered_model": {
                    "name": "churn-predictor",
                    "aliases": [{"alias": "champion", "version": "9"}],
                },
                "model_versions": [],
            }
        ).encode(),
    ],
    ids=["not-json", "another-model", "no-source", "dangling-alias"],
)
def test_a_hostile_host_gets_one_line_and_exit_1(site, cache, body):
    """The host stands in for an attacker's CDN answering with something else."""
    with hosting(site) as server:
        server.overrides["/api/models/churn-predictor.json"] = body
        result = Cli().fails(1, "resolve", "models:/churn-predictor/1", "--site", url_of(server))
        assert result.stderr.count("\n") == 1
        with pytest.raises(InvalidManifest):
            RemoteRegistry(url_of(server), site=True).get_registered_model("churn-predictor")


def test_site_and_a_clones_options_are_a_usage_error(site):
    Cli().fails(2, "resolve", "models:/a/1", "--site", "https://x.example/", "--at", "main")
    Cli().fails(2, "resolve", "models:/a/1", "--site", "https://x.example/", "--remote", "u")
    result = Cli().fails(1, "resolve", "models:/a/1", "--site", "ftp://x.example/")
    assert "not an http(s) URL" in result.stderr


def test_a_pod_resolves_from_the_site_in_a_cold_process(site, cache):
    with hosting(site) as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "gitreg",
                "resolve",
                "models:/churn-predictor@champion",
                "--site",
                url_of(server),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "runs:/aaa111/model\n", "")
