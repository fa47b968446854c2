"""JSON Schema checks: the schemas shipped in the wheel, the two engines, findings with lines.

The schemas under ``gitreg/schemas/`` are loaded once and their local references inlined;
jsonschema-rs answers "valid?" for the common case and jsonschema explains what is wrong,
so messages do not depend on which engine is installed (see #7). Every violation becomes a
``Finding`` with its line and a fix; the invariants JSON Schema cannot say are
``validate``'s.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitreg.core import manifest, plain_manifest
from gitreg.core.fields import LINK_FIX, MAX_VERSION
from gitreg.core.finding import Finding

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped as ``gitreg/schemas/<name>.schema.json``."""
    import pkgutil  # not importlib.resources: a write would load tempfile, shutil, zipfile (#26)

    raw = pkgutil.get_data("gitreg.schemas", f"{name}.schema.json")
    if raw is None:
        raise FileNotFoundError(f"gitreg/schemas/{name}.schema.json")
    text = raw.decode("utf-8")
    import json  # a plain write asks no schema (core.plain_manifest): no json either (#26)

    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def _validator(name: str) -> Validator:
    from jsonschema import Draft202012Validator  # keep reads free of jsonschema

    return Draft202012Validator(_ecma_patterns(_inline_refs(schema(name))))


def _ecma_patterns(node: Any) -> Any:
    """The schema with each ``pattern``'s ``$`` made to mean the end of the text only.

    JSON Schema patterns are ECMA-262, where ``$`` (without the m flag) matches only at the
    end; jsonschema runs them with Python's ``re.search``, where ``$`` also matches before a
    final newline, so ``"sha256:…\\n"`` or ``"churn\\n"`` would pass it (found by mutation
    testing, #28). ``\\Z`` is Python's end of text.
    """
    if isinstance(node, dict):
        return {
            k: _ecma_end(v) if k == "pattern" and isinstance(v, str) else _ecma_patterns(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ecma_patterns(v) for v in node]
    return node


def _ecma_end(pattern: str) -> str:
    """``pattern`` with every ``$`` outside a character class and not escaped as ``\\Z``."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            out.append("\\Z")
            continue
        out.append(char)
    return "".join(out)


@functools.cache
def _fast_validator(name: str) -> Any:
    """jsonschema-rs for the common case, a valid file: 100x faster than jsonschema.

    It only answers valid or not; jsonschema explains what is wrong, so both engines read
    the same schema and messages do not depend on which one is installed (see #7).
    """
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.validator_for(schema(name))


def _inline_refs(node: Any, defs: Any = None) -> Any:
    """The schema with local ``#/$defs/x`` references replaced by their targets.

    Our schemas are not recursive, and jsonschema's reference resolution was two thirds
    of the time of validating a manifest (measured on 10,000 manifests, see #7).
    """
    if defs is None and isinstance(node, dict):
        defs = node.get("$defs", {})
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _schema_message(error: Any, name: str) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "maxContains":
        return (
            f"{where}: more than one version is in Production; move the others to Archived "
            "(gitreg transition NAME VERSION Production --archive-existing-versions)"
        )
    fixes = {
        "additionalProperties": "remove the field or fix its spelling",
        "required": "add it",
        "enum": "use one of those values",
        "const": "use that value",
        "type": "change the value's type",
        "pattern": "change the value to match the pattern",
    }
    fix = fixes.get(error.validator, f"fix it to match gitreg's {name}.schema.json")
    if error.validator in ("pattern", "not") and list(error.absolute_path)[-1:] == ["run_link"]:
        return f"{where}: {_short(error.instance)} is not an http(s) link; {LINK_FIX}"
    if error.validator == "maximum" and isinstance(error.instance, int | float):
        why = " (MLflow stores version numbers as 32-bit integers)"
        return (
            f"{where}: {_short(error.instance)} is above the maximum of "
            f"{error.validator_value:,}{why if error.validator_value >= MAX_VERSION else ''}; "
            "use a smaller number"
        )
    if error.validator in ("maxLength", "minLength") and isinstance(error.instance, str):
        limit = error.validator_value
        word = "long" if error.validator == "maxLength" else "short"
        return (
            f"{where}: {_short(error.instance)} is too {word} ({len(error.instance):,} "
            f"characters; the limit is {limit:,}); shorten it"
        )
    message = str(error.message)
    shown = repr(error.instance)
    if len(shown) > 80:  # a finding never echoes a whole (possibly huge or secret) value
        message = message.replace(shown, _short(error.instance))
    return f"{where}: {message[:500]}; {fix}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fast_valid(name: str, data: Any) -> bool:
    """jsonschema-rs's verdict; False (let jsonschema explain) for what it cannot take.

    A manifest of the plain shape gitreg writes, with a few entries (what a write checks),
    is recognised without loading either engine (#26).
    """
    if name == "manifest" and plain_manifest.valid(data):
        return True
    fast = _fast_validator(name)
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(data))
    except (ValueError, TypeError, OverflowError):  # e.g. "Dict key must be str" (#23)
        return False


def _non_text_keys(data: Any) -> list[tuple[str, Any]]:
    """(field, key) for every mapping key in ``data`` that is not a string."""
    found: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [("(top level)", data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            found += [(where, k) for k in node if not isinstance(k, str)]
            stack += [(_join(where, k), v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(_join(where, i), v) for i, v in enumerate(node)]
    return found


def _join(where: str, step: Any) -> str:
    return str(step) if where == "(top level)" else f"{where}.{step}"


def check_schema(
    data: Any, path: str, text: str | bytes | None, name: str = "manifest"
) -> list[Finding]:
    """Every JSON Schema violation of ``data`` as a finding with its line in ``text``.

    The one-Production rule is left to ``check_invariants``, which can name the line of the
    offending version rather than the ``versions`` key.
    """
    if _fast_valid(name, data):
        return []
    keys = _non_text_keys(data)
    if keys:  # never from a file (the loader refuses them), only from a caller's data
        return [
            Finding(path, None, "KEY_NOT_TEXT", f"{where}: the key {key!r} is not text")
            for where, key in keys
        ]
    findings = []
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: list(map(str, e.path)))
    for error in errors:
        if error.validator == "maxContains" and isinstance(data, Mapping):
            continue
        location = list(error.absolute_path)
        line = manifest.line_of(text, location) if text is not None else None
        code = "MULTIPLE_PRODUCTION" if error.validator == "maxContains" else "SCHEMA"
        findings.append(Finding(path, line, code, _schema_message(error, name)))
    if not findings and not errors and _fast_validator(name) is not None:
        # The engines disagree: jsonschema-rs refused what jsonschema let through. Fail
        # closed rather than pass a file one engine says breaks the schema.
        findings.append(
            Finding(
                path,
                None,
                "SCHEMA",
                f"(top level): does not match the {name} schema; check "
                "every field against the reference (gitreg validate names the rules)",
            )
        )
    return findings
