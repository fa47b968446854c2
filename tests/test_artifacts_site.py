"""The catalog shows what each version's artifact is (#28): digest, signed, model signature.

The registry is real git and the artifacts are real files: churn's version 1 is a model
directory with an ``MLmodel`` file as MLflow writes it (a signature and an input example;
one column's name is markup, as a model's author could write anything), registered (so
its digest is computed from the files) and signed with a real P-256 key (``gitreg sign``'s
way, the bundle kept in the registry); version 2 points where gitreg cannot read, so it has
no digest. Headless Chromium opens the built site from file:// to press the copy button
(skipped without Chromium unless GITREG_REQUIRE_BROWSER is set).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from gitreg.site import build
from tests.test_site_browser import CHROMIUM, FLAGS, _require_browser

SNEAKY = "<img src=x onerror=window.__pwned=1>"
MLMODEL = f"""\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.7
mlflow_version: 3.1.0
saved_input_example_info:
  artifact_path: input_example.json
  type: dataframe
signature:
  inputs: '[{{"type": "double", "name": "tenure", "required": true}}, {{"type": "string",
    "name": "{SNEAKY}", "required": false}}]'
  outputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float64", "shape": [-1]}}}}]'
  params: '[{{"name": "threshold", "type": "double", "default": 0.5, "shape": null}}]'
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("artifact-site")
    model = base / "model"
    model.mkdir()
    (model / "MLmodel").write_text(MLMODEL)
    (model / "model.pkl").write_bytes(b"the weights")
    (model / "input_example.json").write_text('{"tenure": [3.0]}')
    root = base / "registry"
    init_registry(root)
    registry = Registry(root)
    registry.create_model_version("churn", str(model))
    registry.create_model_version("churn", "gs://unread/churn/2")
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    registry.sign_model_version("churn", 1, key)
    out = base / "site"
    build(Registry(root), out)
    return {"site": out, "digest": Registry(root).get_model_version("churn", 1).digest}


def _page(built: dict[str, Any], name: str) -> str:
    path: Path = built["site"] / "models" / "churn" / name
    return path.read_text()


def test_the_version_page_shows_the_digest_short_with_a_copy_button(built) -> None:
    digest = built["digest"]
    page = _page(built, "v1.html")
    assert f'<code title="{digest}">{digest[:19]}</code>' in page
    assert f'<button type="button" class="copy" data-copy="{digest}"' in page


def test_the_version_page_says_it_is_signed_and_where_the_bundle_is(built) -> None:
    page = _page(built, "v1.html")
    assert "yes: model-signing bundle <code>artifacts/churn/1.sig</code>" in page
    unsigned = _page(built, "v2.html")
    assert '<dd class="digest">none recorded</dd>' in unsigned
    assert '<dd class="signed">no</dd>' in unsigned
    assert "Model signature" not in unsigned  # nothing was read: nothing to show


def test_the_model_signature_is_a_table_and_its_text_stays_text(built) -> None:
    page = _page(built, "v1.html")
    table = page[page.index('<table class="signature">') : page.index("</table>")]
    assert "<td>tenure</td><td><code>double</code>" in table
    assert "<code>tensor float64</code></td><td><code>-1</code>" in table
    assert "<td>threshold</td><td><code>double</code></td><td>default <code>0.5</code>" in table
    assert "&lt;img src=x onerror" in table
    assert SNEAKY not in page
    assert "Input example: saved with the model." in page


def test_the_model_page_lists_digests_and_marks_signed_versions(built) -> None:
    page = _page(built, "index.html")
    digest = built["digest"]
    assert f'<code title="{digest}">{digest[:19]}</code>' in page
    assert page.count('<span class="badge signed"') == 1  # version 1 only


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize(
    "permissions", [["clipboard-read", "clipboard-write"], []], ids=["clipboard", "no-clipboard"]
)
def test_the_copy_button_gives_the_reader_the_full_digest(browser, built, permissions) -> None:
    digest = built["digest"]
    context = browser.new_context(permissions=permissions)
    page = context.new_page()
    try:
        page.goto((built["site"] / "models" / "churn" / "v1.html").as_uri())
        button = page.locator("button.copy")
        button.click()
        page.wait_for_function("() => document.querySelector('button.copy').textContent !== 'Copy'")
        if button.text_content() == "Copied":
            assert page.evaluate("navigator.clipboard.readText()") == digest
        else:  # no clipboard for this page: the full digest is shown and selected
            assert page.evaluate("window.getSelection().toString()") == digest
        assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        context.close()
