"""Model cards: ``models/<file stem>.md``, Markdown with a small YAML front matter (#29). No I/O.

A card says what a model is for and what it is not: its intended use, its limitations, how
it was evaluated, who owns it and how risky it is. It lives beside the manifest, under the
same file stem (``models/churn.yaml`` and ``models/churn.md``), and moves and goes with it.

The front matter is the block between a first line ``---`` and the next ``---`` (or
``...``); it is read by the manifest's safe loader with the same bounds. Known fields:
``intended_use``, ``limitations``, ``evaluation`` (text), ``owners`` (a list of names) and
``risk_level`` (low, medium, high or critical); other keys are kept and shown.

A *section* is what a policy can require (``requirements: {Production: {card: [...]}}``):
a front-matter text field of that name, or a Markdown heading whose words make that name
(``## Intended use`` is ``intended_use``), up to the next heading of the same or a higher
level. A section counts only with a character a reader can see: a heading with nothing
under it, or a field of blanks and zero-width spaces, is an empty section.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitreg.core import manifest, record
from gitreg.core.config import MODELS_DIR
from gitreg.core.errors import InvalidManifest
from gitreg.core.fields import has_visible_text
from gitreg.core.finding import Finding
from gitreg.core.lazy_re import lazy
from gitreg.core.names import check_name, file_stem, name_of_stem

CARD_SUFFIX = ".md"
MAX_CARD_BYTES = 256 * 1024  # a card is a document; a dataset does not belong in git here
MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_OWNERS = 100
RISK_LEVELS = ("low", "medium", "high", "critical")
TEXT_FIELDS = ("intended_use", "limitations", "evaluation")
SECTION_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_SECTION_RE = lazy(SECTION_PATTERN)
_FENCE = lazy(r"^(?:---|\.\.\.)[ \t]*$")
_ATX = lazy(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_CODE_FENCE = lazy(r"^ {0,3}(`{3,}|~{3,})")
_SLUG_GAP = lazy(r"[^0-9a-z]+")
_NOT_TEXT = lazy("[\x00\ud800-\udfff]")


@record.dataclass(frozen=True, slots=True)
class Card:
    """A parsed model card: its front matter, its Markdown body, and its sections by name."""

    path: str
    front: Mapping[str, Any]
    body: str
    sections: Mapping[str, str]
    owners: tuple[str, ...] = ()
    risk_level: str | None = None
    body_line: int = 1  # the file line the body starts on

    @property
    def text(self) -> str:
        """Every word of the card as plain text (front matter values and body), for search."""
        values = [str(v) for v in self.front.values() if isinstance(v, str | int | float)]
        values += self.owners
        return "\n".join([*values, self.body])

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: the fields, the sections found and the Markdown body."""
        return {
            "path": self.path,
            "owners": list(self.owners),
            "risk_level": self.risk_level,
            "front_matter": dict(self.front),
            "sections": dict(self.sections),
            "body": self.body,
        }

    def unmet(self, required: Iterable[str]) -> list[str]:
        """Why the card does not hold each of ``required`` (empty when it holds them all)."""
        reasons = []
        for name in required:
            if name not in self.sections:
                reasons.append(
                    f"card section {name} is missing (a {name}: field in the front matter, "
                    f"or a '## {_title(name)}' heading)"
                )
            elif not has_visible_text(self.sections[name]):
                reasons.append(f"card section {name} is empty (no visible character)")
        return reasons


def card_path(name: str) -> str:
    """The card of model ``name``: ``models/<file stem>.md`` (the manifest's stem)."""
    return f"{MODELS_DIR}/{file_stem(check_name(name))}{CARD_SUFFIX}"


def manifest_of(path: str) -> str:
    """The manifest path beside the card ``path`` (``models/x.md`` -> ``models/x.yaml``)."""
    return path.removesuffix(CARD_SUFFIX) + ".yaml"


def card_of(path: str) -> str:
    """The card path beside the manifest ``path`` (``models/x.yaml`` -> ``models/x.md``)."""
    return path.removesuffix(".yaml") + CARD_SUFFIX


def is_card_path(path: str) -> bool:
    """Whether ``path`` is where a model's card lives: ``models/<a model's stem>.md``."""
    head, _, name = path.rpartition("/")
    if head != MODELS_DIR or not name.endswith(CARD_SUFFIX):
        return False
    return name_of_stem(name.removesuffix(CARD_SUFFIX)) is not None


def unmet_card(card: Card | None, required: Sequence[str], path: str) -> list[str]:
    """Why ``card`` (None: there is none, at ``path``) does not hold ``required``."""
    if not required:
        return []
    if card is None:
        return [f"a model card is required ({path}, with {', '.join(required)})"]
    return card.unmet(required)


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def slug(heading: str) -> str:
    """A heading's section name: its letters and digits, lower case, words joined by ``_``."""
    folded = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode().lower()
    return _SLUG_GAP.sub("_", folded).strip("_")


# ---------------------------------------------------------------------------- parsing


def parse_card(text: bytes, path: str) -> tuple[Card | None, list[Finding]]:
    """The card in ``text`` and what is wrong with it (a card with findings is still
    returned when its front matter could be read, so a page can show it)."""
    if len(text) > MAX_CARD_BYTES:
        return None, [
            _finding(
                path,
                None,
                f"the card is {len(text):,} bytes, above gitreg's limit of {MAX_CARD_BYTES:,}; "
                "link to long reports instead of pasting them",
            )
        ]
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, [_finding(path, None, f"not UTF-8 text (byte {e.start}); save it as UTF-8")]
    if _NOT_TEXT.search(decoded):
        return None, [_finding(path, None, "it holds a NUL character; remove it")]
    decoded = decoded.removeprefix("\ufeff").replace("\r\n", "\n")
    lines = decoded.split("\n")
    front, body_start, findings = _front_matter(lines, path)
    if front is None:
        return None, findings
    body = "\n".join(lines[body_start:])
    owners, risk, problems = _known_fields(front, path, decoded)
    sections: dict[str, str] = {}
    for name, markdown in _body_sections(body):  # a heading twice: both parts count
        sections[name] = f"{sections[name]}\n{markdown}" if name in sections else markdown
    for key, value in front.items():
        if isinstance(value, str) and _SECTION_RE.match(key):
            sections[key] = value + ("\n" + sections[key] if key in sections else "")
    card = Card(path, front, body, sections, owners, risk, body_start + 1)
    return card, findings + problems


def _front_matter(lines: list[str], path: str) -> tuple[dict[str, Any] | None, int, list[Finding]]:
    """The front matter as a mapping, the index of the body's first line, and findings."""
    if not lines or lines[0].rstrip() != "---":
        return {}, 0, []
    for index in range(1, len(lines)):
        if _FENCE.match(lines[index]):
            break
    else:
        return (
            None,
            0,
            [_finding(path, 1, "the front matter opened by '---' never closes; end it with '---'")],
        )
    raw = "\n".join(lines[1:index])
    if len(raw.encode()) > MAX_FRONT_MATTER_BYTES:
        message = f"the front matter is above {MAX_FRONT_MATTER_BYTES:,} bytes; keep it short"
        return None, 0, [_finding(path, 1, message)]
    try:
        data = manifest.load(raw, path) if raw.strip() else {}
    except InvalidManifest as e:
        return None, 0, [_shifted(e, path)]
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, 0, [_finding(path, 2, f"the front matter must be a mapping, not a {kind}")]
    if not all(isinstance(key, str) for key in data):
        return None, 0, [_finding(path, 2, "front matter keys must be text")]
    return data, index + 1, []


def _shifted(error: InvalidManifest, path: str) -> Finding:
    """A loader error, its line moved past the opening ``---``."""
    match = re.match(rf"^{re.escape(path)}:(\d+): (.*)$", error.message, re.DOTALL)
    if match:
        return _finding(path, int(match[1]) + 1, match[2], "CARD_SYNTAX")
    return _finding(path, None, error.message.removeprefix(f"{path}: "), "CARD_SYNTAX")


def _known_fields(
    front: Mapping[str, Any], path: str, text: str
) -> tuple[tuple[str, ...], str | None, list[Finding]]:
    """``owners`` and ``risk_level`` as checked values, and findings for the known fields."""
    findings = []
    for key in TEXT_FIELDS:
        if key in front and not isinstance(front[key], str):
            findings.append(_finding(path, _line(text, key), f"{key} must be text"))
    owners_value = front.get("owners", [])
    if isinstance(owners_value, str):
        owners_value = [owners_value]
    owners: tuple[str, ...] = ()
    if not isinstance(owners_value, list) or not all(isinstance(o, str) for o in owners_value):
        findings.append(_finding(path, _line(text, "owners"), "owners must be a list of names"))
    elif len(owners_value) > MAX_OWNERS:
        findings.append(_finding(path, _line(text, "owners"), f"more than {MAX_OWNERS} owners"))
    else:
        owners = tuple(o.strip() for o in owners_value if o.strip())
    risk = front.get("risk_level")
    if risk is not None and (not isinstance(risk, str) or risk.lower() not in RISK_LEVELS):
        findings.append(
            _finding(
                path,
                _line(text, "risk_level"),
                f"risk_level {str(risk)[:40]!r} is not one of {', '.join(RISK_LEVELS)}",
            )
        )
        risk = None
    return owners, (risk.lower() if isinstance(risk, str) else None), findings


def _line(text: str, key: str) -> int | None:
    for number, line in enumerate(text.split("\n")[:2000], 1):
        if line.startswith(f"{key}:"):
            return number
    return None


def _body_sections(body: str) -> list[tuple[str, str]]:
    """(section name, its Markdown) for each ATX heading of ``body``, code blocks skipped.

    A section runs to the next heading of the same or a higher level, so its subsections'
    text is its own too.
    """
    done: list[tuple[str, list[str]]] = []
    open_sections: list[tuple[str, int, list[str]]] = []
    fence: str | None = None
    for line in body.split("\n"):
        marker = _CODE_FENCE.match(line)
        if fence is not None:
            if marker and marker.group(1)[0] == fence:
                fence = None
        elif marker:
            fence = marker.group(1)[0]
        heading = _ATX.match(line) if fence is None and not marker else None
        if heading is None:
            for _name, _level, kept in open_sections:
                kept.append(line)
            continue
        level = len(heading.group(1))
        while open_sections and open_sections[-1][1] >= level:
            name, _level, kept = open_sections.pop()
            done.append((name, kept))
        open_sections.append((slug(heading.group(2) or ""), level, []))
    done += [(name, kept) for name, _level, kept in open_sections]
    return [(name, "\n".join(kept)) for name, kept in done if _SECTION_RE.match(name)]


def _finding(path: str, line: int | None, message: str, code: str = "CARD_INVALID") -> Finding:
    return Finding(path, line, code, f"{path}: {message}")


# --------------------------------------------------------------------------- checks


def check_card(text: bytes, path: str, manifest_exists: bool) -> tuple[Card | None, list[Finding]]:
    """A card's own findings: it parses, its known fields hold what they should, and a
    manifest of the same stem exists (a card without a model is a finding)."""
    card, findings = parse_card(text, path)
    if not manifest_exists:
        findings.append(
            Finding(
                path,
                None,
                "CARD_WITHOUT_MANIFEST",
                f"{path} is a model card, but {manifest_of(path)} does not exist: register "
                "the model, or move the card with its model (gitreg rename and delete do)",
            )
        )
    return card, findings
