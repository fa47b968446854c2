"""The audit a push cannot weaken, and the verified tip it records (issue 22, audit side).

Each attack of the issue is reproduced with real git: a bare repository stands in for the
registry on GitHub, clones push to it directly. ``tests/_forge.py`` is a real HTTP server on
127.0.0.1 standing in for GitHub's REST API (it knows which pull request produced which
commit); ``tests/_servers.Receiver`` stands in for an attacker's endpoint and records every
request and header it receives, answering like a forge that says "merged" to anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import PromotionPending
from gitreg.gate.scaffold import init_registry
from tests import _forge
from tests._helpers import Cli, git, head
from tests._servers import Answer, Receiver, serving

ZERO = "0" * 40
VERIFIED = "refs/gitreg/verified"
ACKNOWLEDGED = "refs/notes/gitreg/acknowledged"
FORGE = "    type: github\n    repository: acme/registry\n    api_url: {url}\n"
WEAKEN = (
    ("  protected: [Production]\n", "  protected: []\n"),
    ("  protected_aliases: [champion]\n", "  protected_aliases: []\n"),
)
# What a forge would answer to "which pull requests produced this commit": merged #9.
MERGED = [
    {
        "number": 9,
        "html_url": "https://evil.example/pull/9",
        "title": "x",
        "head": {"ref": "x"},
        "base": {"ref": "main"},
        "merged_at": "2026-11-30T00:00:00Z",
    }
]


@pytest.fixture
def forge() -> Iterator[_forge.Forge]:
    with _forge.serving() as server:
        yield server


@pytest.fixture
def attacker() -> Iterator[Receiver]:
    """The pusher's own server: it says "merged" to anything and records every header."""
    with serving(Answer(200, MERGED)) as server:
        yield server


def make_remote(tmp_path: Path, forge_text: str, extra: str = "") -> Path:
    """A registry on a bare remote: churn v1 in Production with @champion, v2 and v3 beside.

    The seed is written before the remote exists (direct writes, as gitreg allows without
    reviewers); audits here start after it.
    """
    seed = tmp_path / "seed"
    init_registry(seed)
    config = seed / "gitreg.yaml"
    config.write_text(config.read_text().replace("    type: none\n", forge_text) + extra)
    git(seed, "commit", "-qam", "Configure the forge", "--allow-empty")
    registry = Registry(seed)
    for i in (1, 2, 3):
        registry.create_model_version("churn", f"s3://churn/{i}", tags={"validation": "passed"})
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    return bare


@pytest.fixture
def remote(tmp_path: Path, forge: _forge.Forge, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    return make_remote(tmp_path, FORGE.format(url=forge.url))


def clone(remote: Path, path: Path) -> Path:
    git(path.parent, "clone", "-q", str(remote), str(path))
    return path


@pytest.fixture
def a(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "a")


def tip(remote: Path, ref: str = "main") -> str:
    return git(remote, "rev-parse", ref).strip()


def remote_ref(remote: Path, ref: str) -> str | None:
    out = git(remote, "for-each-ref", "--format=%(objectname)", ref).strip()
    return out or None


def edit(work: Path, path: str, *pairs: tuple[str, str]) -> None:
    target = work / path
    text = target.read_text()
    for old, new in pairs:
        assert old in text, f"{old!r} not in {path}"
        text = text.replace(old, new, 1)
    target.write_text(text)


def push(work: Path, message: str, path: str, *pairs: tuple[str, str]) -> str:
    """A direct push to main: edit ``path``, commit, push; the commit."""
    edit(work, path, *pairs)
    git(work, "add", "-A")
    git(work, "commit", "-qm", message)
    git(work, "push", "-q", "origin", "HEAD:main")
    return head(work)


def merged(work: Path, branch: str, message: str, path: str, *pairs: tuple[str, str]) -> str:
    """A change on ``branch`` merged into main by a true merge commit titled ``message``."""
    git(work, "switch", "-qc", branch)
    edit(work, path, *pairs)
    git(work, "commit", "-qam", f"Change on {branch}")
    git(work, "switch", "-q", "main")
    git(work, "merge", "-q", "--no-ff", branch, "-m", message)
    git(work, "push", "-q", "origin", "main")
    return head(work)


def audit(work: Path, code: int, *args: str) -> dict:
    result = Cli(work).run("audit", *args, "--format", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def found(report: dict) -> list[tuple[str, str, str]]:
    return [(v["commit"], v["finding"]["path"], v["finding"]["code"]) for v in report["violations"]]


CHAMPION_2 = ("  champion: 1\n", "  champion: 2\n")
PRODUCTION_2 = (
    ("    stage: Production\n", "    stage: Archived\n"),
    ("    stage: None\n", "    stage: Production\n"),
)


# ------------------------------------------------------------- the policy is trusted


def test_a_push_that_weakens_the_policy_is_judged_by_the_policy_before_it(a, remote):
    """Attack 1: the first commit unprotects everything, the second moves @champion and
    Production. The policy edit is itself a violation, and the moves are judged by the
    policy trusted before the push, so both commits are named."""
    old = tip(remote)
    weakened = push(a, "Relax the policy", "gitreg.yaml", *WEAKEN)
    moved = push(a, "Promote v2", "models/churn.yaml", CHAMPION_2, *PRODUCTION_2)

    report = audit(a, 1, "--since", old)

    assert found(report) == [
        (weakened, "gitreg.yaml", "PROTECTED_POLICY"),
        (moved, "models/churn.yaml", "PROTECTED_ALIAS"),
        (moved, "models/churn.yaml", "PROTECTED_STAGE"),
        (moved, "models/churn.yaml", "PROTECTED_STAGE"),
    ]
    assert report["trusted"] == old, "the weakened gitreg.yaml never became trusted"
    text = Cli(a).fails(1, "audit", "--since", old).stdout
    assert f"{weakened[:12]} by Alice Example: gitreg.yaml: PROTECTED_POLICY" in text
    assert f"later commits are judged by gitreg.yaml at {old[:12]}" in text


def test_a_reviewed_policy_change_is_trusted_from_then_on(a, remote, forge):
    """The trusted policy advances through accepted changes: a merge the forge confirms
    that unprotects @champion makes a later direct move of it allowed."""
    old = tip(remote)
    relaxed = merged(a, "relax", "Merge pull request #4 from acme/relax", "gitreg.yaml", WEAKEN[1])
    confirm(forge, 4, relaxed)
    push(a, "Move champion", "models/churn.yaml", CHAMPION_2)

    report = audit(a, 0, "--since", old)

    assert report["trusted"] == relaxed
    assert [
        (c["commit"], c["code"], c["status"], c["evidence"]) for c in report["protected_changes"]
    ] == [(relaxed, "PROTECTED_POLICY", "verified", "merged pull request #4 (GitHub)")]


def test_a_reviewed_edit_does_not_launder_an_unreviewed_one(a, remote, forge):
    """A direct push unprotects @champion; a reviewed pull request then edits gitreg.yaml
    elsewhere (its diff never showed the first change). The policy before the push still
    judges: a later move of @champion is caught, and a note says why."""
    old = tip(remote)
    weakened = push(a, "Unprotect champion", "gitreg.yaml", WEAKEN[1])
    comment = ("schema_version: 1\n", "schema_version: 1\n# reviewed yearly\n")
    reviewed = merged(a, "doc", "Merge pull request #5 from acme/doc", "gitreg.yaml", comment)
    confirm(forge, 5, reviewed)
    moved = push(a, "Move champion", "models/churn.yaml", CHAMPION_2)

    report = audit(a, 1, "--since", old)

    assert found(report) == [
        (weakened, "gitreg.yaml", "PROTECTED_POLICY"),
        (moved, "models/churn.yaml", "PROTECTED_ALIAS"),
    ]
    assert any(
        n.startswith(f"{reviewed[:12]} changed gitreg.yaml in a reviewed merge")
        for n in report["notes"]
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (".github/workflows/gitreg.yml", "name: nothing to see\non: workflow_dispatch\n"),
        (".github/CODEOWNERS", "* @evil\n"),
        ("CODEOWNERS", "* @evil\n"),
        ("docs/CODEOWNERS", "* @evil\n"),
        (".gitlab/CODEOWNERS", "* @evil\n"),
        (".gitlab-ci.yml", "stages: []\n"),
    ],
)
def test_a_direct_change_to_what_judges_the_registry_is_a_violation(a, remote, path, text):
    """CI definitions and code owners (wherever GitHub or GitLab reads them) change only
    through review: pushing one directly is a violation of its own."""
    old = tip(remote)
    (a / path).parent.mkdir(parents=True, exist_ok=True)
    (a / path).write_text(text)
    git(a, "add", "-A")
    git(a, "commit", "-qm", f"Touch {path}")
    git(a, "push", "-q", "origin", "main")

    assert found(audit(a, 1, "--since", old)) == [(head(a), path, "PROTECTED_POLICY")]


def test_a_hand_edit_that_rewrites_the_retirement_record_is_a_violation(a, remote):
    """models/.retired.yaml may only grow without review: an entry whose reason changes
    (the reason decides whether a renamed model may take the name back) is a violation."""
    registry = Registry(a)
    registry.create_model_version("spam", "s3://spam/1")
    registry.delete_registered_model("spam")  # direct: spam holds nothing protected
    old = tip(remote)
    rewritten = push(
        a,
        "Let churn take spam's numbers",
        "models/.retired.yaml",
        ("reason: deleted", "reason: renamed to churn"),
    )

    assert found(audit(a, 1, "--since", old)) == [
        (rewritten, "models/.retired.yaml", "PROTECTED_POLICY")
    ]


def confirm(forge: _forge.Forge, number: int, commit: str) -> None:
    """The forge learns that merged pull request ``number`` produced ``commit``."""
    forge.pulls[number] = {
        "number": number,
        "branch": f"topic-{number}",
        "base": "main",
        "title": "Reviewed",
        "state": "merged",
        "reviews": [("bob", "APPROVED")],
        "commits": [commit],
    }


# ------------------------------------------------- tokens go only to trusted origins


def test_a_push_that_redirects_the_forge_sends_it_no_token(a, remote, forge, attacker):
    """Attack 2: the push points registry.forge.api_url at the pusher's server (which would
    say "merged") and moves @champion. The audit asks only the forge of the trusted
    gitreg.yaml, which knows no such pull request: both commits are named, and the pusher's
    server receives nothing at all, least of all the token."""
    old = tip(remote)
    redirected = push(
        a, "Use our API", "gitreg.yaml", (f"api_url: {forge.url}", f"api_url: {attacker.url}")
    )
    moved = push(a, "Merge pull request #9 from evil/x", "models/churn.yaml", CHAMPION_2)

    report = audit(a, 1, "--since", old)

    assert found(report) == [
        (redirected, "gitreg.yaml", "PROTECTED_POLICY"),
        (moved, "models/churn.yaml", "PROTECTED_ALIAS"),
    ]
    assert attacker.requests == [], "the pushed gitreg.yaml's api_url was never called"
    asked = [path for _, path, _ in forge.calls]
    assert asked == [f"{_forge.GITHUB}/commits/{c}/pulls" for c in (redirected, moved)]


CI_RUNNERS = {
    "github": {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": "{url}",
        "GITHUB_REPOSITORY": "acme/registry",
        "GITHUB_TOKEN": _forge.TOKEN,
    },
    "gitlab": {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": "{url}",
        "CI_PROJECT_ID": "acme/registry",
        "GITLAB_TOKEN": _forge.TOKEN,
    },
}


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_in_ci_the_runner_names_the_forge_not_gitreg_yaml(
    tmp_path, forge, attacker, monkeypatch, kind
):
    """In GitHub Actions (GITHUB_API_URL, GITHUB_REPOSITORY) or GitLab CI (CI_API_V4_URL,
    CI_PROJECT_ID) the API origin and repository are the runner's: a gitreg.yaml in the
    range that names another origin is never asked, and a merge the real forge confirms
    is verified."""
    remote = make_remote(tmp_path, f"    type: {kind}\n")  # no api_url, no repository
    a = clone(remote, tmp_path / "a")
    for name, value in CI_RUNNERS[kind].items():
        monkeypatch.setenv(name, value.format(url=forge.url))
    old = tip(remote)
    evil = f"    type: {kind}\n    api_url: {attacker.url}\n    repository: evil/x\n"
    redirected = push(a, "Use our API", "gitreg.yaml", (f"    type: {kind}\n", evil))
    reviewed = merged(
        a, "promote", "Merge pull request #3 from acme/promote", "models/churn.yaml", CHAMPION_2
    )
    confirm(forge, 3, reviewed)

    report = audit(a, 1, "--since", old)

    assert found(report) == [(redirected, "gitreg.yaml", "PROTECTED_POLICY")]
    assert [(c["commit"], c["status"]) for c in report["protected_changes"]] == [
        (redirected, "unreviewed"),
        (reviewed, "verified"),
    ]
    assert attacker.requests == []


def test_audit_notify_delivers_with_the_trusted_subscriptions_only(
    tmp_path, forge, attacker, monkeypatch
):
    """Attack 4: the push adds a github-dispatch hook with token_env: GITHUB_TOKEN and its
    own api_url, then moves @champion. ``audit --notify`` delivers the violations to the
    subscriptions of the trusted gitreg.yaml (a CI system's webhook receiver here), and the
    pusher's endpoint receives nothing."""
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    with serving(Answer(200, b"ok")) as receiver:  # stands in for the team's CI webhook
        # Loopback receivers must be allow-listed (#23); the attacker's endpoint is on
        # 127.0.0.1 too, so only the trust rule keeps the token from it.
        trusted_hook = (
            "notifications:\n  allow:\n    hosts: [127.0.0.1]\n"
            f"  webhooks:\n    - name: ci\n      url: {receiver.url}/hook\n"
            "      events: [POLICY_VIOLATION]\n"
        )
        remote = make_remote(tmp_path, FORGE.format(url=forge.url), trusted_hook)
        a = clone(remote, tmp_path / "a")
        old = tip(remote)
        evil_hook = (
            "    - name: deploy\n      format: github-dispatch\n      repository: evil/x\n"
            f"      token_env: GITHUB_TOKEN\n      api_url: {attacker.url}\n"
        )
        hooked = push(
            a,
            "Add a hook",
            "gitreg.yaml",
            (
                "      events: [POLICY_VIOLATION]\n",
                "      events: [POLICY_VIOLATION]\n" + evil_hook,
            ),
        )
        moved = push(a, "Move champion", "models/churn.yaml", CHAMPION_2)

        result = Cli(a).run("audit", "--since", old, "--notify", "--format", "json")

        assert result.exit_code == 1, result.stderr
        sent = [json.loads(r.body) for r in receiver.requests]
        # each commit's violations, and nothing else (the hook commit also breaks the
        # allow-list of #23: its api_url is no origin the policy names)
        assert {(e["commit"], e["event"]) for e in sent} == {
            (hooked, "POLICY_VIOLATION"),
            (moved, "POLICY_VIOLATION"),
        }
    assert attacker.requests == [], "no token (and no event) reached the pushed endpoint"


# ---------------------------------------------------- a merge title is not evidence


def hand_made_merge(work: Path) -> str:
    """Attack 3: a two-parent commit titled as GitHub titles merges, made and pushed by hand."""
    return merged(work, "x", "Merge pull request #9 from evil/x", "models/churn.yaml", CHAMPION_2)


@pytest.mark.parametrize(
    ("forge_kind", "why"),
    [
        ("none", "registry.forge is none in gitreg.yaml at"),
        ("no-token", "set GITHUB_TOKEN or GITREG_TOKEN"),
        ("403", "GitHub answered 403"),
        ("503", "GitHub answered 503"),
    ],
)
def test_without_a_forge_that_confirms_a_merge_its_changes_are_unverified(
    tmp_path, monkeypatch, forge_kind, why
):
    """With forge: none, no token, or a forge that refuses (403) or fails (503; a real HTTP
    server stands in for GitHub there), the hand-made merge is UNVERIFIED: the audit exits
    1, names the commit and says why nothing could confirm it, in every format."""
    status = int(forge_kind) if forge_kind.isdigit() else 200
    with serving(Answer(status, {"message": "no"})) as github:
        text = "    type: none\n" if forge_kind == "none" else FORGE.format(url=github.url)
        if forge_kind != "no-token":
            monkeypatch.setenv("GITHUB_TOKEN", "a-token")
        remote = make_remote(tmp_path, text)
        a = clone(remote, tmp_path / "a")
        old = tip(remote)
        made = hand_made_merge(a)

        report = audit(a, 1, "--since", old)
        text_report = Cli(a).fails(1, "audit", "--since", old).stdout
        github_report = Cli(a).fails(1, "audit", "--since", old, "--format", "github").stdout

    assert found(report) == [(made, "models/churn.yaml", "UNVERIFIED")]
    assert report["violations"][0]["pull_request"] == 9, "the number its title claims"
    message = report["violations"][0]["finding"]["message"]
    assert message.startswith("churn: @champion moved from version 1 to 2: a protected change")
    assert why in message
    (checked,) = report["protected_changes"]
    assert (checked["commit"], checked["status"]) == (made, "unverified")
    assert why in checked["evidence"]
    assert f"  UNVERIFIED  {made[:12]} models/churn.yaml:" in text_report
    assert "title=POLICY_VIOLATION::" in github_report
    assert "UNVERIFIED" in github_report


def test_a_merge_the_forge_confirms_is_verified_and_says_so(a, remote, forge):
    """The same merge, once the forge confirms merged pull request #9 produced it, passes;
    the report says the forge verified it, in text, JSON and GitHub annotations."""
    old = tip(remote)
    made = hand_made_merge(a)
    confirm(forge, 9, made)

    report = audit(a, 0, "--since", old)
    text = Cli(a).ok("audit", "--since", old).stdout
    github = Cli(a).ok("audit", "--since", old, "--format", "github").stdout

    assert report["protected_changes"] == [
        {
            "commit": made,
            "path": "models/churn.yaml",
            "line": report["protected_changes"][0]["line"],
            "code": "PROTECTED_ALIAS",
            "what": "churn: @champion moved from version 1 to 2",
            "status": "verified",
            "evidence": "merged pull request #9 (GitHub)",
            "pull_request": 9,
        }
    ]
    assert f"  VERIFIED    {made[:12]} models/churn.yaml:" in text
    assert "(merged pull request #9 (GitHub))" in text
    assert "title=VERIFIED::" in github


# ------------------------------------------------------- a broken policy fails closed

BROKEN = ["policy: [\n", "schema_version: 1\npolicy:\n  requirements: {Staging: null}\n"]


@pytest.mark.parametrize("config", BROKEN, ids=["syntax", "null-requirement"])
def test_validate_base_on_a_broken_base_refuses_a_champion_move(a, remote, config):
    """Attack 5: main's gitreg.yaml is broken; a pull request moves @champion. The base
    judges nothing as allowed: validate --base exits 1 and says to fix gitreg.yaml first."""
    push(a, "Break the policy", "gitreg.yaml", ((a / "gitreg.yaml").read_text(), config))
    git(a, "switch", "-qc", "pr")
    edit(a, "models/churn.yaml", CHAMPION_2)

    result = Cli(a).fails(1, "validate", "--base", "main", "--format", "json")

    (refusal,) = json.loads(result.stdout)["findings"]
    assert refusal["code"] == "BASE_POLICY_INVALID"
    assert "Fix the base's gitreg.yaml first" in refusal["message"]


@pytest.mark.parametrize("config", BROKEN, ids=["syntax", "null-requirement"])
def test_an_audit_from_a_broken_policy_allows_nothing_until_a_reviewed_repair(
    a, remote, forge, config
):
    """An audit whose trusted start has a broken gitreg.yaml exits 1 and says so; each
    commit that changes the registry before a repair is a violation; the repair, reviewed
    and judged by the last valid policy, makes the registry judgeable again."""
    good = (a / "gitreg.yaml").read_text()
    broken = push(a, "Break the policy", "gitreg.yaml", (good, config))

    empty = audit(a, 1, "--since", broken)
    assert empty["commits"] == 0
    assert [f["code"] for f in empty["problems"]] == ["BASE_POLICY_INVALID"]
    assert "fix gitreg.yaml first" in empty["problems"][0]["message"]

    registered = push(a, "Register", "models/churn.yaml", ("next_version: 4", "next_version: 5"))
    repaired = merged(
        a, "fix", "Merge pull request #6 from acme/fix", "gitreg.yaml", (config, good)
    )
    confirm(forge, 6, repaired)
    after = push(a, "Tag", "models/churn.yaml", ("next_version: 5", "next_version: 6"))

    report = audit(a, 1, "--since", broken)
    assert found(report) == [(registered, "gitreg.yaml", "BASE_POLICY_INVALID")]
    assert report["problems"] == []
    assert report["trusted"] == repaired
    assert audit(a, 0, "--since", repaired)["commits"] == 1, after


# ------------------------------------------------------------------ the verified tip


def register(work: Path, source: str) -> str:
    """A clean direct push: a new version (nothing protected changes)."""
    Registry(work, push=True).create_model_version("churn", source)
    return head(work)


def reflog(work: Path) -> list[str]:
    return git(work, "reflog", "show", "--format=%gs", VERIFIED).splitlines()


def test_with_neither_since_nor_a_verified_tip_the_audit_exits_2_with_the_fix(a, remote):
    result = Cli(a).fails(2, "audit")
    assert "there is no refs/gitreg/verified here or on origin and no --since" in result.stderr
    assert "give --since REF" in result.stderr
    assert remote_ref(remote, VERIFIED) is None


def test_the_verified_tip_advances_only_after_a_clean_audit(a, remote, tmp_path):
    """Bootstrapped once by an administrator, then moved by clean audits only, forward, in
    this clone (reflog) and on the remote (never a branch). A pushed violation stops it at
    the last good state; so does every later push, however clean, because each audit is
    judged from the verified tip: no ordinary push skips the check."""
    old = tip(remote)
    first = audit(a, 0, "--since", old, "--record", "--bootstrap")
    assert first["recorded"] == f"{VERIFIED} -> {old[:12]} (was unset) and pushed to origin"
    assert remote_ref(remote, VERIFIED) == old

    good = register(a, "s3://churn/4")
    report = audit(a, 0, "--record")  # from the verified tip, by default
    assert (report["since"], report["commits"]) == (old, 1)
    assert tip(a, VERIFIED) == remote_ref(remote, VERIFIED) == good
    assert reflog(a)[0].startswith("gitreg audit --record: 1 commit(s) in")
    assert tip(remote) == good, "recording moved no branch"

    moved = push(a, "Move champion", "models/churn.yaml", CHAMPION_2)
    bad = audit(a, 1, "--record")
    assert found(bad) == [(moved, "models/churn.yaml", "PROTECTED_ALIAS")]
    assert bad["recorded"] is None
    assert f"not recorded: {VERIFIED} stays at {good[:12]}" in bad["notes"]
    later = register(a, "s3://churn/5")
    still = audit(a, 1, "--record")
    assert [v["commit"] for v in still["violations"]] == [moved], "judged from the tip"
    assert tip(a, VERIFIED) == remote_ref(remote, VERIFIED) == good
    # Another clone (a deployment's, a CI runner's) starts from the remote's tip too.
    b = clone(remote, tmp_path / "b")
    assert audit(b, 1)["since"] == good
    assert tip(b, VERIFIED) == good
    assert tip(remote) == later


def test_recording_judges_from_the_verified_tip_even_when_since_is_later(a, remote):
    """The push job passes --since the push's before: a violation pushed earlier (its own
    audit failed) is still judged by the next push's audit, which starts at the verified
    tip; --since cannot make a recording skip it."""
    old = tip(remote)
    audit(a, 0, "--since", old, "--record", "--bootstrap")
    moved = push(a, "Move champion", "models/churn.yaml", CHAMPION_2)
    before = tip(remote)
    register(a, "s3://churn/4")

    report = audit(a, 1, "--since", before, "--record")

    assert [v["commit"] for v in report["violations"]] == [moved]
    assert report["since"] == old
    assert any(n.startswith(f"judged from the verified tip {old[:12]}") for n in report["notes"])
    assert remote_ref(remote, VERIFIED) == old
    assert audit(a, 0, "--since", before)["since"] == before, "without --record: as asked"


def test_after_a_violation_a_reviewed_revert_and_an_acknowledgement_let_the_tip_advance(
    a, remote, forge
):
    """The recovery path: revert by review, then acknowledge the violating commit by id
    with a reason. The acknowledgement is recorded (a git note pushed beside the tip) and
    later audits of that range report it as acknowledged instead of failing."""
    old = tip(remote)
    audit(a, 0, "--since", old, "--record", "--bootstrap")
    moved = push(a, "Move champion", "models/churn.yaml", CHAMPION_2)
    revert = merged(
        a, "revert", "Merge pull request #7 from acme/revert", "models/churn.yaml",
        ("  champion: 2\n", "  champion: 1\n"),
    )  # fmt: skip
    confirm(forge, 7, revert)
    assert found(audit(a, 1, "--record")) == [(moved, "models/churn.yaml", "PROTECTED_ALIAS")]

    Cli(a).fails(2, "audit", "--record", "--acknowledge", moved)  # no reason
    Cli(a).fails(2, "audit", "--record", "--acknowledge", revert, "--reason", "fine")
    assert tip(a, VERIFIED) == old
    assert remote_ref(remote, ACKNOWLEDGED) is None

    done = audit(a, 0, "--record", "--acknowledge", moved[:10], "--reason", "reverted in #7")

    assert [v["commit"] for v in done["acknowledged"]] == [moved]
    assert tip(a, VERIFIED) == remote_ref(remote, VERIFIED) == revert
    note = git(remote, "notes", f"--ref={ACKNOWLEDGED}", "show", moved)
    assert note.strip() == "Acknowledged by Alice Example <alice@example.com>: reverted in #7"
    assert "acknowledged " + moved[:12] in reflog(a)[0]
    again = audit(a, 0, "--since", old)
    assert again["violations"] == []
    assert [v["commit"] for v in again["acknowledged"]] == [moved]


def test_a_first_verified_tip_needs_the_whole_history_or_an_explicit_bootstrap(
    tmp_path, forge, monkeypatch
):
    """No verified tip yet: an audit from the commit before a push judges the push but
    records nothing (the tip could have been deleted to skip a violation); a whole-history
    audit of a registry that was always clean records it."""
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    seed = tmp_path / "seed"
    init_registry(seed)
    Registry(seed).create_model_version("churn", "s3://churn/1")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    a = clone(bare, tmp_path / "a")
    before = register(a, "s3://churn/2")
    register(a, "s3://churn/3")

    result = Cli(a).run("audit", "--since", before, "--record", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is True, "the push itself was judged"
    why = report["not_recorded"]["message"]  # in the one JSON document (#27)
    assert "a first one is recorded only after judging the whole history" in why
    assert remote_ref(bare, VERIFIED) is None
    assert git(a, "for-each-ref", VERIFIED) == ""

    whole = audit(a, 0, "--since", ZERO, "--record")
    assert whole["recorded"].startswith(f"{VERIFIED} -> {head(a)[:12]} (was unset)")
    assert remote_ref(bare, VERIFIED) == head(a)


def test_a_verified_tip_moved_by_hand_is_refused(a, remote):
    """A verified tip off the branch's history, or this clone's and the remote's diverged,
    stops the audit with exit 1 and the way to recovery; nothing moves."""
    old = tip(remote)
    audit(a, 0, "--since", old, "--record", "--bootstrap")
    git(a, "switch", "-qc", "side")
    edit(a, "models/churn.yaml", ("next_version: 4", "next_version: 9"))
    git(a, "commit", "-qam", "Elsewhere, never pushed")
    side = head(a)
    git(a, "switch", "-q", "main")
    git(a, "update-ref", VERIFIED, side)  # by hand, in this clone only

    off = Cli(a).fails(1, "audit")
    assert f"{VERIFIED} ({side[:12]}) is not in the history of HEAD" in off.stderr
    assert "see docs/trust.md, recovery" in off.stderr

    good = register(a, "s3://churn/4")
    git(remote, "update-ref", VERIFIED, good)  # the remote's moved on another line
    diverged = Cli(a).fails(1, "audit", "--record")
    assert f"{VERIFIED} here ({side[:12]}) and on origin ({good[:12]}) have diverged" in (
        diverged.stderr
    )
    assert tip(a, VERIFIED) == side
    assert remote_ref(remote, VERIFIED) == good


# ---------------------------------------- layer 1: gitreg's own writes pass the audit


def test_a_webhook_written_on_a_registry_with_a_remote_becomes_a_pull_request(a, remote, forge):
    """gitreg.yaml is what judges, so gitreg's own write to it (a webhook) is proposed as a
    pull request instead of pushed; merged, and confirmed by the forge, it passes the audit
    and the new subscription is trusted from then on."""
    old = tip(remote)
    with pytest.raises(PromotionPending) as pending:
        Registry(a).create_webhook("ci", url="https://ci.example/hook", secret="s3cret")
    assert pending.value.branch == "gitreg/gitreg.yaml/add-webhook-ci"
    assert pending.value.url == "https://github.example/acme/registry/pull/1"
    assert tip(remote) == old, "main did not move"
    assert forge.pulls[1]["title"] == "Add webhook ci (gitreg.yaml)"
    listed = json.loads(Cli(a).ok("requests", "--json").stdout)["transition_requests"]
    assert [(r["branch"], r["kind"], r["target"]) for r in listed] == [
        ("gitreg/gitreg.yaml/add-webhook-ci", "config", "gitreg.yaml")
    ]
    assert "GITREG_WEBHOOK_SECRET_CI" in (a / ".git" / "gitreg" / "secrets.json").read_text()

    git(a, "fetch", "-q", "origin")
    git(a, "merge", "-q", "--no-ff", "origin/gitreg/gitreg.yaml/add-webhook-ci",
        "-m", "Merge pull request #1 from acme/gitreg/gitreg.yaml/add-webhook-ci")  # fmt: skip
    git(a, "push", "-q", "origin", "main")
    confirm(forge, 1, head(a))

    report = audit(a, 0, "--since", old)
    assert report["trusted"] == head(a)
    assert [c["status"] for c in report["protected_changes"]] == ["verified"]


def test_deletes_and_renames_gitreg_makes_directly_pass_the_audit(a, remote):
    """A delete or a rename of a model that holds nothing protected is a direct write that
    records the retired name in models/.retired.yaml; a record that only grows is accepted
    without review, so gitreg's own writes never fail the audit and the tip advances."""
    old = tip(remote)
    audit(a, 0, "--since", old, "--record", "--bootstrap")
    registry = Registry(a, push=True)
    registry.create_model_version("spam", "s3://spam/1")
    registry.create_model_version("ham", "s3://ham/1")
    registry.delete_registered_model("spam")
    registry.rename_registered_model("ham", "eggs")
    registry.create_model_version("spam", "s3://spam/2")  # takes spam back: its record goes
    assert tip(remote) == head(a), "all direct pushes"

    report = audit(a, 0, "--record")

    assert report["violations"] == []
    assert report["protected_changes"] == []
    assert tip(a, VERIFIED) == remote_ref(remote, VERIFIED) == head(a)


def test_an_unreachable_remote_leaves_the_clones_tip_for_reading_not_for_recording(
    a, remote, tmp_path
):
    """Offline, an audit starts from this clone's verified tip and says so; recording needs
    the remote (the tip lives there), so it fails and nothing moves."""
    old = tip(remote)
    audit(a, 0, "--since", old, "--record", "--bootstrap")
    register(a, "s3://churn/4")
    git(a, "remote", "set-url", "origin", str(tmp_path / "gone.git"))

    report = audit(a, 0)
    assert report["since"] == old
    assert any("this clone's refs/gitreg/verified is used" in n for n in report["notes"])
    result = Cli(a).fails(1, "audit", "--record")
    assert "cannot fetch from origin" in result.stderr
    assert tip(a, VERIFIED) == old


def test_a_repository_becoming_a_registry_brings_its_first_policy(tmp_path):
    """Before gitreg.yaml exists nothing is protected: the commit that adds it (with CI
    files and code owners) is no PROTECTED_POLICY violation, and its gitreg.yaml is the
    trusted policy from then on, even though a Production version in the same commit is
    reported (forge: none, so UNVERIFIED)."""
    from gitreg.core.config import DEFAULT_CONFIG_TEXT

    root = tmp_path / "plain"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("A plain repository.\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Plain")
    (root / "models").mkdir()
    (root / ".github").mkdir()
    (root / "gitreg.yaml").write_text(DEFAULT_CONFIG_TEXT)
    (root / ".github" / "CODEOWNERS").write_text("/gitreg.yaml @acme/leads\n")
    (root / "models" / "churn.yaml").write_text(
        "schema_version: 1\nname: churn\nnext_version: 2\nversions:\n"
        "  - version: 1\n    source: s3://churn/1\n    stage: Production\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Become a registry")
    founded = head(root)
    Registry(root).create_model_version("churn", "s3://churn/2")

    for since in (ZERO, git(root, "rev-parse", "HEAD~2").strip()):
        report = audit(root, 1, "--since", since)
        assert found(report) == [(founded, "models/churn.yaml", "UNVERIFIED")], since
        assert report["trusted"] == founded
