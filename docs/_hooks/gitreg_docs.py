"""MkDocs hooks for gitreg's documentation site (mkdocs.yml, issue 27).

- Every ``<!-- gitreg:schema FILE -->`` line of a page becomes the reference table of the JSON
  Schema ``schemas/FILE``, generated at build time, so the manifest and gitreg.yaml references
  cannot drift from the schemas that ``gitreg validate`` applies; ``<!-- gitreg:default-config
  -->`` becomes the gitreg.yaml that ``gitreg init`` writes.
- A relative link that leaves ``docs/`` for a file of the project (``../schemas/x.json``,
  ``../.pre-commit-hooks.yaml``) works on GitHub as it is; on the site it becomes a link to
  that file in the repository. A link to a file that does not exist fails the build.
- The click group loads its commands on first use; mkdocs-click lists what is loaded, so
  every command module is imported first and the CLI reference lists every command. Each
  command's ``\\b`` block (its examples, kept unwrapped in ``--help``) is shown as a code
  block, and a default that click leaves unset is shown as none.
"""

from __future__ import annotations

import html
import importlib
import json
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

MARKER = re.compile(r"^<!-- gitreg:schema (?P<file>[\w.-]+\.json) -->$", re.MULTILINE)
DEFAULT_CONFIG = "<!-- gitreg:default-config -->"
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(\]\()(?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?(\))")
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------- JSON Schema


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with a local ``$ref`` (``#/$defs/x``) replaced by its target, siblings kept."""
    seen: set[str] = set()
    while "$ref" in node and node["$ref"] not in seen:
        ref = node["$ref"]
        seen.add(ref)
        target: Any = schema
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


# Inside inline HTML, Markdown still reads links, emphasis and escapes: each character that
# could start one is written as an entity, and so is the table's cell separator.
_LITERAL = str.maketrans({c: f"&#{ord(c)};" for c in "|[]()*_`\\<>&!{}#+-.~^$"})


def _code(text: object) -> str:
    """Inline code that Markdown leaves alone and a table cell cannot split."""
    return "<code>" + str(text).translate(_LITERAL) + "</code>"


def _type(schema: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    node = _resolve(schema, node)
    if "const" in node:
        return _code(json.dumps(node["const"]))
    if "enum" in node:
        return "one of " + ", ".join(_code(json.dumps(v)) for v in node["enum"])
    for key in ("oneOf", "anyOf"):
        if key in node and "type" not in node:
            return " or ".join(_type(schema, option) for option in node[key])
    kind = node.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    words = {
        "string": "text",
        "integer": "integer",
        "number": "number",
        "boolean": "boolean",
        "null": "null",
        "object": "mapping",
        "array": "list",
    }
    named = [words.get(k, k) for k in kinds]
    if "array" in kinds and isinstance(node.get("items"), Mapping):
        named[kinds.index("array")] = "list of " + _type(schema, node["items"])
    extra = node.get("additionalProperties")
    if "object" in kinds and isinstance(extra, Mapping) and not node.get("properties"):
        named[kinds.index("object")] = "mapping of text to " + _type(schema, extra)
    return " or ".join(named)


def _rules(node: Mapping[str, Any]) -> list[str]:
    """The constraints a value must meet, in words."""
    words = {
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minimum": "at least {}",
        "maximum": "at most {}",
        "exclusiveMinimum": "more than {}",
        "exclusiveMaximum": "less than {}",
        "minItems": "at least {} items",
        "maxItems": "at most {} items",
        "maxProperties": "at most {} entries",
        "minContains": "at least {} matching items",
        "maxContains": "at most {} matching items",
    }
    rules = [text.format(node[key]) for key, text in words.items() if key in node]
    if node.get("uniqueItems"):
        rules.append("no duplicates")
    if "pattern" in node:
        rules.append("matches " + _code(node["pattern"]))
    names = node.get("propertyNames")
    if isinstance(names, Mapping) and "pattern" in names:
        rules.append("keys match " + _code(names["pattern"]))
    if "default" in node:
        rules.append("default " + _code(json.dumps(node["default"])))
    return rules


def _cell(text: str) -> str:
    text = " ".join(text.split()).rstrip(".")
    return html.escape(text, quote=False).replace("|", "&#124;")


def schema_rows(
    schema: Mapping[str, Any], node: Mapping[str, Any] | None = None, prefix: str = ""
) -> Iterator[tuple[str, str, bool, str]]:
    """(field path, type, required, description and rules) for every field, depth first.

    Paths read as in a manifest: ``versions[].stage``, ``tags.<key>``,
    ``notifications.webhooks[].url``.
    """
    node = _resolve(schema, schema if node is None else node)
    required = set(node.get("required", ()))
    for name, child in node.get("properties", {}).items():
        child = _resolve(schema, child)
        path = f"{prefix}{name}"
        about = [_cell(child.get("description", "")), *_rules(child)]
        text = "; ".join(part for part in about if part)
        yield path, _type(schema, child), name in required, text
        yield from _children(schema, child, path)


def _children(
    schema: Mapping[str, Any], node: Mapping[str, Any], path: str
) -> Iterator[tuple[str, str, bool, str]]:
    items = node.get("items")
    if isinstance(items, Mapping) and _resolve(schema, items).get("properties"):
        yield from schema_rows(schema, items, f"{path}[].")
    if node.get("properties"):
        yield from schema_rows(schema, node, f"{path}.")
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping) and _resolve(schema, extra).get("properties"):
        yield from schema_rows(schema, extra, f"{path}.<key>.")


def schema_table(file: str, up: str = "../../") -> str:
    """The Markdown reference table of ``schemas/<file>`` (``up``: from the page to the root)."""
    schema = json.loads((ROOT / "schemas" / file).read_text("utf-8"))
    lines = [
        f"Generated from [`schemas/{file}`]({up}schemas/{file})"
        + (f" ({_cell(schema['title'])})" if "title" in schema else "")
        + " when the site is built.",
        "",
        "| field | type | required | meaning and rules |",
        "| --- | --- | --- | --- |",
    ]
    for path, kind, required, text in schema_rows(schema):
        lines.append(f"| `{path}` | {kind} | {'yes' if required else ''} | {text} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------- links


def github_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file (code blocks left out)."""
    text = FENCE.sub("", path.read_text("utf-8"))
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _outside_links(markdown: str, page_path: str, docs_dir: Path, repo_url: str) -> str:
    """Relative links that leave docs/ become links to the file in the repository."""
    page_dir = (docs_dir / page_path).parent

    def rewrite(match: re.Match[str]) -> str:
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return match[0]
        resolved = (page_dir / target).resolve()
        if resolved.is_relative_to(docs_dir.resolve()):
            return match[0]  # a page or file of the site: MkDocs checks it
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            raise ValueError(f"{page_path}: the link {target} leads nowhere")
        anchor = (match["anchor"] or "#")[1:]
        if anchor and resolved.suffix == ".md" and anchor not in github_anchors(resolved):
            raise ValueError(f"{page_path}: the link {target}#{anchor}: no such heading")
        relative = PurePosixPath(resolved.relative_to(ROOT).as_posix())
        kind = "tree" if resolved.is_dir() else "blob"
        url = f"{repo_url.rstrip('/')}/{kind}/main/{relative}{match['anchor'] or ''}"
        return f"{match[1]}{url})"

    parts, last = [], 0
    for fence in FENCE.finditer(markdown):
        parts.append(LINK.sub(rewrite, markdown[last : fence.start()]))
        parts.append(fence[0])
        last = fence.end()
    parts.append(LINK.sub(rewrite, markdown[last:]))
    return "".join(parts)


# --------------------------------------------------------------------------- the CLI


def unwrapped_blocks(lines: Iterable[str]) -> Iterator[str]:
    """click's ``\\b`` blocks (a heading line, then lines kept as written) as code blocks."""
    block: list[str] | None = None
    for line in [*lines, ""]:
        if line.strip() == "\b":
            block = []
        elif block is None:
            yield line
        elif line.strip():
            block.append(line)
        else:
            if block and block[0].rstrip().endswith(":") and not block[0][:1].isspace():
                yield f"**{block.pop(0).strip()}**"
                yield ""
            yield from ("```text", *textwrap.dedent("\n".join(block)).splitlines(), "```", "")
            block = None


def _patch_mkdocs_click() -> None:
    from mkdocs_click import _docs

    describe, row = _docs._make_description, _docs._format_table_option_row
    if getattr(describe, "gitreg", False):
        return

    def description(ctx: Any, remove_ascii_art: bool = False) -> Iterator[str]:
        return unwrapped_blocks(describe(ctx, remove_ascii_art))

    def option_row(option: Any) -> str:
        # click 8.3 marks "no default" with a sentinel object; show it as no default.
        text: str = row(option)
        return text.replace("`Sentinel.UNSET`", "")

    description.gitreg = True  # type: ignore[attr-defined]
    _docs._make_description = description
    _docs._format_table_option_row = option_row


# ------------------------------------------------------------------------------- hooks


def on_config(config: Any) -> Any:
    """Load every CLI command, so that mkdocs-click lists them all (in --help's order)."""
    from gitreg.cli._app import COMMAND_MODULES, cli

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(module)
    cli.commands = dict(sorted(cli.commands.items()))
    _patch_mkdocs_click()
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Schema tables in, links out of docs/ pointed at the repository."""
    if DEFAULT_CONFIG in markdown:
        from gitreg.core.config import DEFAULT_CONFIG_TEXT

        markdown = markdown.replace(DEFAULT_CONFIG, f"```yaml\n{DEFAULT_CONFIG_TEXT}```")
    up = "../" * (1 + page.file.src_uri.count("/"))
    markdown = MARKER.sub(lambda m: schema_table(m["file"], up), markdown)
    return _outside_links(markdown, page.file.src_uri, Path(config["docs_dir"]), config["repo_url"])
