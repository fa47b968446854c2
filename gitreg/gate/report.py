"""A validation report as text, JSON, GitHub workflow commands and a Markdown job summary.

Formatters return strings; the CLI decides where they go (stdout, ``$GITHUB_STEP_SUMMARY``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from gitreg.core.approved import ApprovalRecord
from gitreg.core.finding import Finding
from gitreg.gate.audit import AuditReport
from gitreg.gate.evidence import Checked
from gitreg.gate.review import Report
from gitreg.gate.rules import ModelChange

FORMATS = ("text", "json", "github")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def verdict(report: Report) -> str:
    """One line: valid or not, how many problems, what was checked against what."""
    against = ""
    if report.base_commit:
        against = f" against {report.base} ({report.base_commit[:12]})"
    checked = f"{_plural(report.checked, 'file')} checked{against}"
    if report.valid:
        return f"gitreg validate: valid; {checked}"
    files = len({f.path for f in report.findings})
    problems = _plural(len(report.findings), "problem")
    return f"gitreg validate: invalid; {problems} in {_plural(files, 'file')}; {checked}"


def _stage_cell(change: ModelChange, arrow: str) -> str:
    if change.version is None:
        return change.note
    before = change.stage_from if change.stage_from is not None else "new"
    after = change.stage_to if change.stage_to is not None else "deleted"
    return before if before == after else f"{before} {arrow} {after}"


def _rows(changes: Sequence[ModelChange], arrow: str) -> list[list[str]]:
    return [
        [
            c.model,
            str(c.version) if c.version is not None else "-",
            _stage_cell(c, arrow),
            ", ".join(a.replace(" -> ", f" {arrow} ") for a in c.aliases),
            ", ".join(c.tags),
        ]
        for c in changes
    ]


_HEADER = ["Model", "Version", "Stage", "Aliases moved", "Tags set"]


def format_text(report: Report) -> str:
    """Findings one per line, notes, a table of changes, and the verdict."""
    lines = [str(f) for f in report.findings]
    lines += [f"note: {f.message}" for f in report.notes]
    if report.changes:
        cells = [[h.upper() for h in _HEADER], *_rows(report.changes, "->")]
        widths = [max(len(row[i]) for row in cells) for i in range(len(_HEADER))]
        lines += ["", "Changes:"]
        for row in cells:
            cells_text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
            lines.append(f"  {cells_text}".rstrip())
    if lines:
        lines.append("")
    lines.append(verdict(report))
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    """The report as one JSON document (stable keys)."""
    data = {
        "valid": report.valid,
        "base": report.base,
        "base_commit": report.base_commit,
        "checked": report.checked,
        "findings": [f.to_dict() for f in report.findings],
        "notes": [f.to_dict() for f in report.notes],
        "changes": [c.to_dict() for c in report.changes],
    }
    if report.approvals:  # only a change that needed approvals has them (#24)
        data["approvals"] = [v.to_dict() for v in report.approvals]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# -------------------------------------------------------------------------- GitHub


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, finding: Finding, prefix: str) -> str:
    props = []
    if finding.path:
        props.append(f"file={_escape_property(prefix + finding.path)}")
        if finding.line:
            props.append(f"line={finding.line}")
    props.append(f"title={_escape_property(finding.code)}")
    return f"::{kind} {','.join(props)}::{_escape_data(finding.message)}"


def format_github(report: Report) -> str:
    """Workflow commands, so findings show on the pull request's diff, then the verdict."""
    lines = [_command("error", f, report.prefix) for f in report.findings]
    lines += [_command("notice", f, report.prefix) for f in report.notes]
    lines.append(verdict(report))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    # Markdown ends a line at \r as at \n: either would split a table row or a bullet.
    return text.replace("|", "\\|").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def markdown_summary(report: Report) -> str:
    """The job summary: a table of what the change does, the problems, and the verdict."""
    mark = ":white_check_mark:" if report.valid else ":x:"
    state = "valid" if report.valid else f"invalid: {_plural(len(report.findings), 'problem')}"
    lines = [f"## {mark} gitreg validate: {state}", ""]
    if report.base_commit:
        lines += [
            f"Compared with `{_md(report.base or '')}` (`{report.base_commit[:12]}`); "
            "judged by the base's `gitreg.yaml` policy.",
            "",
        ]
    if report.changes:
        lines += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        lines += [
            "| " + " | ".join(_md(c) for c in row) + " |" for row in _rows(report.changes, "→")
        ]
        lines.append("")
    elif report.base_commit:
        lines += ["This change does not touch any model.", ""]
    if report.findings:
        lines += ["### Problems", ""]
        for f in report.findings:
            where = f"{report.prefix}{f.path}" + (f":{f.line}" if f.line else "")
            lines.append(f"- `{_md(where)}` **{f.code}**: {_md(f.message)}")
        lines.append("")
    for note in report.notes:
        lines += [f"> [!NOTE]\n> {_md(note.message)}", ""]
    lines += [f"**Verdict:** {_md(verdict(report))}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- audit


def audit_verdict(report: AuditReport) -> str:
    """One line: how many commits were judged and how many broke a rule."""
    span = f"{report.since[:12] if report.since else 'the start'}..{report.until[:12]}"
    if report.problems and not report.violations:
        return (
            f"gitreg audit: {_plural(report.commits, 'commit')} in {span} cannot be judged: "
            "the trusted policy is invalid"
        )
    if report.valid:
        return f"gitreg audit: {_plural(report.commits, 'commit')} in {span}, no violations"
    return (
        f"gitreg audit: {_plural(len(report.violations), 'violation')} in "
        f"{_plural(report.commits, 'commit')} ({span})"
    )


def _checked_line(c: Checked, approved: Mapping[str, ApprovalRecord]) -> str:
    where = f"{c.path}:{c.line}" if c.line else c.path
    record = approved.get(c.commit)
    who = f"; approved by {', '.join(record.approved_by) or 'nobody'}" if record else ""
    return f"  {c.status.upper():<10}  {c.commit[:12]} {where}: {c.what} ({c.evidence}){who}"


def format_audit_text(report: AuditReport) -> str:
    """One line per violation (commit, author, file, code, what); which protected changes
    the forge verified and why the others are not; the notes; the verdict."""
    lines = [v.describe() for v in report.violations]
    lines += [str(f) for f in report.problems]
    if report.protected:
        lines.append("protected changes, and whether the forge confirmed their review:")
        approved = {a.commit: a for a in report.approvals}  # who approved the merge (#24)
        lines += [_checked_line(c, approved) for c in report.protected]
    lines += [f"acknowledged: {v.describe()}" for v in report.acknowledged]
    lines += [f"note: {n}" for n in report.notes]
    if report.recorded:
        lines.append(f"recorded: {report.recorded}")
    lines.append(audit_verdict(report))
    return "\n".join(lines) + "\n"


def format_audit_json(report: AuditReport) -> str:
    """The report as JSON."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def format_audit_github(report: AuditReport, prefix: str = "") -> str:
    """Workflow commands: an error annotation per violation (and per problem), a notice per
    protected change the forge verified, then the notes and the verdict."""
    lines = []
    for v in report.violations:
        finding = Finding(
            v.finding.path,
            v.finding.line,
            "POLICY_VIOLATION",
            f"{v.commit[:12]} by {v.author}: {v.finding.code}: {v.finding.message}",
        )
        lines.append(_command("error", finding, prefix))
    lines += [_command("error", f, prefix) for f in report.problems]
    for c in report.protected:
        if c.status == "verified":
            said = f"{c.commit[:12]}: {c.what}: verified, {c.evidence}"
            lines.append(_command("notice", Finding(c.path, c.line, "VERIFIED", said), prefix))
    for v in report.acknowledged:
        said = f"{v.commit[:12]} by {v.author}: {v.finding.code}: {v.finding.message}"
        finding = Finding(v.finding.path, v.finding.line, "ACKNOWLEDGED", said)
        lines.append(_command("warning", finding, prefix))
    lines += [f"::notice::{_escape_data(n)}" for n in report.notes]
    if report.recorded:
        lines.append(f"::notice::{_escape_data(report.recorded)}")
    lines.append(audit_verdict(report))
    return "\n".join(lines) + "\n"
