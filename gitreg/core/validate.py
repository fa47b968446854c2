"""Invariant checks, on top of the schema's. Returns findings; never prints; faces show them.

What JSON Schema cannot say (one Production version, aliases that point at versions,
integers that are integers, names and stray files in ``models/``) is checked here, after
``schema_check``'s findings; gitreg.yaml's policy and links are checked for consistency.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from gitreg.core import approvals, manifest, notifications
from gitreg.core.config import MODELS_DIR, RETIRED_FILE, link_problem, requirement_problems
from gitreg.core.entities import Stage
from gitreg.core.errors import InvalidManifest, InvalidParameter
from gitreg.core.fields import (
    RESERVED_ALIASES,
    TAG_KEY_PATTERN,
    is_version_text,
    metric_problem,
)
from gitreg.core.finding import Finding
from gitreg.core.lazy_re import lazy
from gitreg.core.names import check_name, file_stem, name_key, name_of_stem
from gitreg.core.schema_check import check_schema

# Bumped whenever a check changes, so that cached verdicts are made again (see #12); 6: schema
# patterns end where JSON Schema says (a value ending in a line break no longer passes).
CHECKS_VERSION = 6


def _line(text: str | bytes | None, location: Sequence[str | int]) -> int | None:
    return manifest.line_of(text, location) if text is not None else None


def check_invariants(
    data: Mapping[str, Any],
    path: str,
    text: str | bytes | None,
    incumbents: Collection[int] = (),
    exists: Callable[[Any], bool] | None = None,
) -> list[Finding]:
    """The rules JSON Schema cannot say: names, version order, aliases, Production count.

    ``incumbents`` are the versions that were in Production before the change: when two
    versions are, the finding points at the newcomer. ``exists`` says whether a version
    that ``data`` does not list exists (``check_change``: ``data`` lists only some).
    """
    findings: list[Finding] = []
    stem = path.rsplit("/", 1)[-1].removesuffix(".yaml")
    named = data.get("name")
    if isinstance(named, str) and file_stem(named) != stem:
        findings.append(
            Finding(
                path,
                _line(text, ["name"]),
                "NAME_MISMATCH",
                f"name {named!r} belongs in {MODELS_DIR}/{file_stem(named)}.yaml, not in this "
                "file; rename the file or fix the name (gitreg rename renames both)",
            )
        )
    findings += _check_numbers(data, path, text)
    listed = _listed(data)
    versions = [v for v in listed if isinstance(v, Mapping)]
    findings += _check_versions(versions, data.get("next_version"), path, text)
    if data.get("versions") is not None and not isinstance(data.get("versions"), list):
        exists = _anything  # no list to look an alias's version up in: the schema says why
    findings += _check_aliases(data.get("aliases") or {}, versions, path, text, exists)
    name = named if isinstance(named, str) else (name_of_stem(stem) or stem)
    findings += _check_production(listed, name, path, text, incumbents)
    findings += _check_tag_keys(data, path, text)
    findings += _check_timestamps(data, path, text)
    return findings


def _listed(data: Mapping[str, Any]) -> list[Any]:
    """``data``'s versions when they are a list; anything else is the schema's to report
    (``versions: 7`` crashed every check after it, #26's spool tests found it)."""
    versions = data.get("versions")
    return versions if isinstance(versions, list) else []


def _anything(number: Any) -> bool:
    return True


def _check_numbers(data: Mapping[str, Any], path: str, text: str | bytes | None) -> list[Finding]:
    """Version numbers are integers as written (not 1.0, true or "1"); metrics are finite.

    JSON Schema's "integer" admits 1.0, and a float version compares equal to the integer
    one, which let a pull request rewrite version 1 as "1.0" (see #12).
    """
    wanted: list[tuple[list[str | int], Any]] = [(["next_version"], data.get("next_version"))]
    aliases = data.get("aliases")
    if isinstance(aliases, Mapping):
        wanted += [(["aliases", str(a)], v) for a, v in aliases.items()]
    versions = data.get("versions")
    for index, v in enumerate(versions if isinstance(versions, list) else []):
        if isinstance(v, Mapping):
            wanted.append((["versions", index, "version"], v.get("version")))
    findings = [
        Finding(
            path,
            _line(text, location),
            "NOT_AN_INTEGER",
            f"{'.'.join(map(str, location))}: {value!r} is not an integer; write the number "
            "without a decimal point or quotes (version numbers are never renumbered)",
        )
        for location, value in wanted
        if isinstance(value, float)  # "1" and true are the schema's to report
    ]
    return findings + _check_metric_values(versions, path, text)


def _check_metric_values(versions: Any, path: str, text: str | bytes | None) -> list[Finding]:
    """Metrics are numbers MLflow can store: finite 64-bit floats (a 400-digit integer is not,
    see #23)."""
    findings = []
    for index, v in enumerate(versions if isinstance(versions, list) else []):
        metrics = v.get("metrics") if isinstance(v, Mapping) else None
        for name, value in (metrics or {}).items() if isinstance(metrics, Mapping) else ():
            if type(value) is float and value - value == 0.0:  # finite: most metrics, at once
                continue
            problem = metric_problem(value)
            if problem:
                number = isinstance(value, int | float) and not isinstance(value, bool)
                findings.append(
                    Finding(
                        path,
                        _line(text, ["versions", index, "metrics", name]),
                        "METRIC_NOT_FINITE" if number else "SCHEMA",
                        f"versions[{index}].metrics.{name}: {problem}",
                    )
                )
    return findings


def _check_timestamps(
    data: Mapping[str, Any], path: str, text: str | bytes | None
) -> list[Finding]:
    """``created_at`` values the schema's pattern admits but no calendar has (month 13, year 0).

    Reads turn them into MLflow's milliseconds, so one that cannot be converted is refused
    here with its line rather than at every read (#23).
    """
    places: list[tuple[list[str | int], Any]] = [(["created_at"], data.get("created_at"))]
    versions = data.get("versions")
    for index, v in enumerate(versions if isinstance(versions, list) else []):
        if isinstance(v, Mapping):
            places.append((["versions", index, "created_at"], v.get("created_at")))
    findings = []
    for location, value in places:
        if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
            continue  # absent, or the schema's to report
        try:
            _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))  # what reads parse
        except (ValueError, OverflowError) as e:
            findings.append(
                Finding(
                    path,
                    _line(text, location),
                    "SCHEMA",
                    f"{'.'.join(map(str, location))}: {value!r} is not a real date and time"
                    f"{f' ({e})' if len(str(e)) <= 40 else ''}; write UTC ISO-8601 such as "
                    "2026-11-22T10:04:11Z",
                )
            )
    return findings


_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _check_production(
    versions: Sequence[Any],
    name: str,
    path: str,
    text: str | bytes | None,
    incumbents: Collection[int],
) -> list[Finding]:
    if not isinstance(versions, Sequence):
        return []
    production = [
        (index, v.get("version"))
        for index, v in enumerate(versions)
        if isinstance(v, Mapping) and v.get("stage") == Stage.PRODUCTION.value
    ]
    if len(production) < 2:
        return []
    # Keep an incumbent (else the oldest); every other Production version is the problem.
    keep = min(production, key=lambda p: (p[1] not in incumbents, p[0]))
    return [
        Finding(
            path,
            _line(text, ["versions", index, "stage"]),
            "MULTIPLE_PRODUCTION",
            f"versions[{index}]: version {number} is in Production, but version {keep[1]} "
            "already is; at most one version per model is in Production: archive the old "
            f"one in the same change (gitreg transition {name} {number} Production "
            "--archive-existing-versions)",
        )
        for index, number in production
        if (index, number) != keep
    ]


def _check_versions(
    versions: Sequence[Mapping[str, Any]], next_version: Any, path: str, text: str | bytes | None
) -> list[Finding]:
    findings: list[Finding] = []
    numbers: list[int] = [v["version"] for v in versions if isinstance(v.get("version"), int)]
    for index, number in enumerate(numbers):
        if index and number <= numbers[index - 1]:
            code = "DUPLICATE_VERSION" if number == numbers[index - 1] else "VERSION_ORDER"
            findings.append(
                Finding(
                    path,
                    _line(text, ["versions", index]),
                    code,
                    f"versions[{index}]: version {number} must be unique and listed in "
                    "ascending order; renumbering is never allowed, so move the entry",
                )
            )
        if isinstance(next_version, int) and number >= next_version:
            findings.append(
                Finding(
                    path,
                    _line(text, ["next_version"]),
                    "NEXT_VERSION",
                    f"next_version {next_version} must be above every version "
                    f"(version {number} exists); set it to {max(numbers) + 1}",
                )
            )
            break
    return findings


def _check_aliases(
    aliases: Any,
    versions: Sequence[Mapping[str, Any]],
    path: str,
    text: str | bytes | None,
    exists: Callable[[Any], bool] | None = None,
) -> list[Finding]:
    if not isinstance(aliases, Mapping):
        return []
    numbers = {v.get("version") for v in versions if isinstance(v.get("version"), int)}
    findings = []
    for alias, number in aliases.items():
        if not isinstance(number, int) or isinstance(number, bool):
            listed = True  # not a version number: the schema's to report
        else:
            listed = number in numbers or (exists is not None and exists(number))
        if not listed:
            findings.append(
                Finding(
                    path,
                    _line(text, ["aliases", alias]),
                    "ALIAS_DANGLING",
                    f"aliases.{alias} points at version {number}, which does not exist; "
                    "point it at an existing version or remove it",
                )
            )
        if str(alias).lower() in RESERVED_ALIASES or is_version_text(str(alias)):
            findings.append(
                Finding(
                    path,
                    _line(text, ["aliases", alias]),
                    "ALIAS_RESERVED",
                    f"aliases.{alias}: 'latest' and numbers are reserved; choose another name",
                )
            )
    return findings


_TAG_KEY_RE = re.compile(TAG_KEY_PATTERN)


def _check_tag_keys(data: Mapping[str, Any], path: str, text: str | bytes | None) -> list[Finding]:
    """Tag keys with a character MLflow refuses that the schema cannot name (#16).

    JSON Schema's ``\\w`` is ASCII-only, so the schema lets every non-ASCII character
    through; MLflow accepts only Unicode word characters there.
    """
    places: list[tuple[list[str | int], Any]] = [(["tags"], data.get("tags"))]
    for index, version in enumerate(_listed(data)):
        if isinstance(version, Mapping):
            places.append((["versions", index, "tags"], version.get("tags")))
    findings = []
    for location, tags in places:
        for key in tags if isinstance(tags, Mapping) else ():
            if isinstance(key, str) and not _TAG_KEY_RE.fullmatch(key):
                findings.append(
                    Finding(
                        path,
                        _line(text, [*location, key]),
                        "TAG_KEY_INVALID",
                        f"{'.'.join(map(str, location))}: tag key {key!r} has a character "
                        "MLflow does not accept; use letters, digits, '_', '-', '.', ' ', "
                        "':' and '/'",
                    )
                )
    return findings


def check_manifest(
    data: Any, path: str, text: str | bytes | None = None, incumbents: Collection[int] = ()
) -> list[Finding]:
    """Schema findings, then (for a well-formed manifest) invariant findings."""
    findings = check_schema(data, path, text)
    if isinstance(data, Mapping):
        findings += check_invariants(data, path, text, incumbents)
    return findings


def check_change(
    data: Mapping[str, Any],
    path: str,
    exists: Callable[[Any], bool],
    production: Collection[int],
) -> list[Finding]:
    """``check_manifest`` for a write that kept most entries of a manifest that passed it.

    ``data`` is the model's new header with only the entries the write rewrote or added
    (#26): the others passed every check when gitreg wrote them, and checks per entry do
    not need them. The two that span entries do: ``exists`` says whether a version that
    ``data`` does not list exists (an alias may point at it), and ``production`` are the
    kept versions in Production. Version order holds when rewritten entries keep their
    number and new ones take ``next_version``s (the caller's to ensure). The findings carry
    no lines: a caller that gets any writes the whole manifest, whose findings have them.
    """
    findings = check_schema(data, path, None)
    if findings:
        return findings
    findings += check_invariants(data, path, None, exists=exists)
    listed = {v.get("version"): v.get("stage") for v in data.get("versions") or ()}
    kept = [n for n in production if n not in listed]
    new = [n for n, stage in listed.items() if stage == Stage.PRODUCTION.value]
    if len(kept) + len(new) > 1:
        findings.append(
            Finding(
                path,
                None,
                "MULTIPLE_PRODUCTION",
                f"versions {sorted([*kept, *new])} would all be in Production; at most one "
                "version per model is",
            )
        )
    return findings


def check_retired(data: Any, path: str, text: str | bytes | None = None) -> list[Finding]:
    """Schema findings for ``models/.retired.yaml``, and integers that are integers."""
    findings = check_schema(data, path, text, name="retired")
    entries = data.get("retired") if isinstance(data, Mapping) else None
    for name, entry in entries.items() if isinstance(entries, Mapping) else ():
        number = entry.get("next_version") if isinstance(entry, Mapping) else None
        if isinstance(number, float):
            findings.append(
                Finding(
                    path,
                    _line(text, ["retired", name, "next_version"]),
                    "NOT_AN_INTEGER",
                    f"retired.{name}.next_version: {number!r} is not an integer",
                )
            )
    return findings


def check_config(data: Any, path: str, text: str | bytes | None = None) -> list[Finding]:
    """Schema findings for gitreg.yaml, then policy consistency (stages it names exist)."""
    findings = check_schema(data, path, text, name="config")
    if not findings and isinstance(data, Mapping):
        findings += _check_approvals(data, path, text)
        findings += [
            Finding(path, _line(text, where), code, message)
            for where, code, message in notifications.problems(data.get("notifications"))
        ]
        findings += _check_links(data.get("links") or {}, path, text)
    policy = data.get("policy") if isinstance(data, Mapping) else None
    if findings or not isinstance(policy, Mapping):
        return findings
    findings += [
        Finding(path, _line(text, ["policy", "requirements", *where]), code, message)
        for where, code, message in requirement_problems(policy.get("requirements"))
    ]
    if "stages" not in policy:
        return findings
    stages = set(policy["stages"] or ())
    for key in ("transitions", "protected", "requirements"):
        for stage in _named_stages(policy.get(key)):
            if stage not in stages:
                findings.append(
                    Finding(
                        path,
                        _line(text, ["policy", key]),
                        "POLICY_UNKNOWN_STAGE",
                        f"policy.{key} names stage {stage}, which policy.stages does not "
                        f"list; add {stage} to policy.stages or remove it from policy.{key}",
                    )
                )
    return findings


def _check_approvals(data: Mapping[str, Any], path: str, text: str | bytes | None) -> list[Finding]:
    """policy.approvals (#24): rules for protected stages and aliases that can be met."""
    policy = data.get("policy")
    registry = data.get("registry")
    forge = registry.get("forge") if isinstance(registry, Mapping) else None
    kind = str(forge.get("type", "none")) if isinstance(forge, Mapping) else "none"
    if not isinstance(policy, Mapping):
        return []
    return [
        Finding(path, _line(text, ["policy", "approvals", *where]), code, message)
        for where, code, message in approvals.problems(policy, kind)
    ]


def _check_links(links: Mapping[str, Any], path: str, text: str | bytes | None) -> list[Finding]:
    """Link templates (#14): http(s) with a literal host, only the placeholders gitreg fills."""
    findings = []
    for key, template in links.items():
        problem = link_problem(str(key), template)
        if problem:
            findings.append(Finding(path, _line(text, ["links", key]), "LINK_TEMPLATE", problem))
    return findings


def _named_stages(value: Any) -> list[str]:
    """The stages a policy section names; "@alias" requirement keys name aliases (#23)."""
    if isinstance(value, Mapping):
        named = [key for key in value if not str(key).startswith("@")]
        for targets in value.values():
            if isinstance(targets, list):
                named += targets
        return sorted(set(named), key=named.index)
    return list(value or ())


_WHERE_RE = lazy(r"^.*?:(\d+): (.*)$", re.DOTALL)


def parse(text: bytes, path: str) -> tuple[Any, list[Finding]]:
    """Parse YAML; a syntax error becomes one YAML_SYNTAX finding instead of an exception."""
    try:
        return manifest.load(text, path), []
    except InvalidManifest as e:
        if e.findings:  # a key that is not text, a number out of range (#23)
            return None, list(e.findings)
        match = _WHERE_RE.match(e.message.removeprefix(path))
        line, message = (int(match[1]), match[2]) if match else (None, e.message)
        return None, [Finding(path, line, "YAML_SYNTAX", message)]


def check_entry(name: str, is_dir: bool = False) -> list[Finding]:
    """What is wrong with ``models/<name>``: only ``<model name>.yaml`` files belong there."""
    from gitreg.core.card import is_card_path

    path = f"{MODELS_DIR}/{name}"
    if name in (".gitkeep", RETIRED_FILE.rsplit("/", 1)[-1]) and not is_dir:
        return []
    if not is_dir and is_card_path(path):
        return []  # a model card (#29): core.card checks it
    if is_dir or not name.endswith(".yaml"):
        hint = "rename it to .yaml" if name.endswith(".yml") else "move it out of models/"
        kind = "a directory" if is_dir else "not a .yaml manifest"
        return [
            Finding(
                path,
                None,
                "STRAY_FILE",
                f"{path} is {kind}; models/ holds only <model name>.yaml manifests: {hint}",
            )
        ]
    stem = name.removesuffix(".yaml")
    if name_of_stem(stem) is None:
        why = ""
        try:
            check_name(stem)
        except InvalidParameter as e:
            why = f"{e.message}; "
        return [
            Finding(
                path,
                None,
                "NAME_INVALID",
                f"{path} is not the file name of any model name ({why or 'not in canonical form; '}"
                f"a model's file is models/<encoded name>.yaml, e.g. {file_stem(stem)}.yaml): "
                "rename the file",
            )
        ]
    return []


def check_unique_names(paths: Iterable[str]) -> list[Finding]:
    """Manifests whose names differ only in case (they collide on macOS and Windows)."""
    seen: dict[str, str] = {}
    findings = []
    for path in sorted(paths):
        stem = path.rsplit("/", 1)[-1].removesuffix(".yaml")
        key = name_key(name_of_stem(stem) or stem)
        if key in seen:
            findings.append(
                Finding(
                    path,
                    None,
                    "NAME_CASE_CONFLICT",
                    f"{path} and {seen[key]} differ only in case; a checkout on macOS or "
                    "Windows would merge them, so rename one",
                )
            )
        else:
            seen[key] = path
    return findings
