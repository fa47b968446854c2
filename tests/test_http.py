"""The integrations' HTTP client (issue 12's credential items, issue 13's retries).

Every peer is a real server on 127.0.0.1 started here (tests/_servers.py). A redirecting
server on one port pointing at a recording server on another port stands in for an
attacker's origin; scripted servers stand in for GitHub's API and webhook receivers.
Waits go through an injected ``sleep`` that records them, so no test sleeps for long and
none asserts on time.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from gitreg import Registry
from gitreg.core.errors import ForgeError
from gitreg.integrations import http
from gitreg.integrations.forges.github import GitHubForge
from gitreg.integrations.forges.gitlab import GitLabForge
from tests._helpers import Cli, git
from tests._servers import Answer, closed_port, serving, silent

FAST = http.Retry(attempts=4, backoff=0.01, max_backoff=0.05)


def _post(url: str, **kw):
    waits: list[float] = []
    kw.setdefault("retry", FAST)
    try:
        return http.request("POST", url, body=b"{}", sleep=waits.append, **kw), waits
    except http.HttpError as e:
        e.waits = waits  # type: ignore[attr-defined]
        raise


# ------------------------------------------------------------ credentials and origins


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_forge_token_never_follows_a_redirect_to_another_origin(status):
    """#12: api_url answers a redirect to another port; the token must not go there."""
    with serving(Answer(200, [])) as attacker:
        moved = Answer(status, b"", {"Location": f"{attacker.url}/repos/team/registry/pulls"})
        with serving(moved) as api:
            for forge in (
                GitHubForge("team/registry", "s3cret-token", api.url),
                GitLabForge("group/registry", "s3cret-token", api.url),
            ):
                with pytest.raises(ForgeError, match="another origin") as caught:
                    forge.list_open()
                assert "s3cret-token" not in caught.value.message
            assert len(api.requests) == 2
        assert attacker.requests == []


def test_a_post_redirected_to_another_origin_is_refused_too():
    with serving(Answer(200)) as attacker:
        moved = Answer(307, b"", {"Location": f"{attacker.url}/hook"})
        with serving(moved) as receiver, pytest.raises(http.HttpError, match="another origin"):
            _post(receiver.url, headers={"Authorization": "Bearer t"})
    assert attacker.requests == []


def test_a_same_origin_redirect_is_followed_with_its_credentials():
    def route(seen):
        if seen.path.startswith("/old/repos/team/registry/pulls?state=open&per_page=100"):
            return Answer(308, b"", {"Location": "/new/repos/team/registry/pulls"})
        pull = {"head": {"ref": "gitreg/m/v1-production"}, "html_url": "u", "number": 3}
        return Answer(200, [pull])

    with serving(route) as api:
        pulls = GitHubForge("team/registry", "tok", f"{api.url}/old").list_open()
    assert [p.number for p in pulls] == [3]
    assert [r.path for r in api.requests][1] == "/new/repos/team/registry/pulls"
    assert api.requests[1].headers["Authorization"] == "Bearer tok"


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.5/api/v3", "ftp://example.com"]
)
def test_plain_http_is_refused_unless_loopback(url):
    with pytest.raises(ForgeError, match=r"plain http|not an http"):
        GitHubForge("team/registry", "tok", url).list_open()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.8.9.10"])
def test_loopback_hosts_may_use_plain_http(host):
    http.check_url(f"http://{host}:8080/hook")


def test_redact_keeps_the_secret_part_of_a_url_out():
    assert http.redact("https://hooks.slack.com/services/T0/B0/XyZ") == "https://hooks.slack.com/…"


# ------------------------------------------------------------------ hostile answers


def test_a_forge_answering_html_is_one_clear_line(bare_remote, tmp_path, monkeypatch):
    """#12: a forge (or a captive portal in front of it) that answers non-JSON."""
    with serving(Answer(200, "<html>Sign in</html>", {"Content-Type": "text/html"})) as api:
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
        config = clone / "gitreg.yaml"
        forge = (
            f"  forge:\n    type: github\n    repository: team/registry\n    api_url: {api.url}\n"
        )
        config.write_text(config.read_text().replace("  forge:\n    type: none\n", forge))
        git(clone, "commit", "-qam", "Use GitHub")
        monkeypatch.setenv("GITHUB_TOKEN", "tok")
        with pytest.raises(ForgeError, match="not JSON"):
            Registry(clone).list_transition_requests()
        result = Cli(clone).fails(1, "requests")
    assert "GitHub answered 200 with a body that is not JSON (text/html" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_error_page_in_html_is_reported_by_status():
    page = Answer(502, "<html><body>Bad gateway</body></html>")
    bad_gateway = r"GitHub answered 502 .*Bad Gateway"
    with serving(page) as api, pytest.raises(ForgeError, match=bad_gateway):
        GitHubForge("team/registry", "tok", api.url).open("b", "main", "t", "", [])
    assert len(api.requests) == 1  # opening a pull request is never repeated


def test_an_oversized_answer_is_refused():
    big = Answer(200, b"x" * 5000)
    with serving(big) as receiver, pytest.raises(http.HttpError, match="more than 1000 bytes"):
        _post(receiver.url, max_bytes=1000)


# ------------------------------------------------------------------------- retries


def test_5xx_is_retried_with_growing_jittered_waits_until_it_succeeds():
    with serving(Answer(503), Answer(500), Answer(200, b"ok")) as receiver:
        response, waits = _post(receiver.url)
    assert response.status == 200
    assert response.attempts == 3
    assert len(receiver.requests) == 3
    assert 0.005 <= waits[0] <= 0.01
    assert 0.01 <= waits[1] <= 0.02


def test_a_404_is_final_at_once():
    gone = Answer(404, {"message": "no such hook"})
    with (
        serving(gone) as receiver,
        pytest.raises(http.HttpError, match=r"answered 404 .*no such hook") as caught,
    ):
        _post(receiver.url)
    assert len(receiver.requests) == 1
    assert caught.value.status == 404
    assert caught.value.waits == []


def test_429_waits_as_long_as_retry_after_says():
    with serving(Answer(429, b"", {"Retry-After": "2"}), Answer(200)) as receiver:
        response, waits = _post(receiver.url)
    assert response.status == 200
    assert waits == [2.0]


def test_a_retry_after_beyond_the_bound_ends_the_retries():
    later = Answer(429, b"", {"Retry-After": "86400"})
    with serving(later) as receiver, pytest.raises(http.HttpError, match="answered 429"):
        _post(receiver.url)
    assert len(receiver.requests) == 1


def test_the_retries_run_out():
    with (
        serving(Answer(503)) as receiver,
        pytest.raises(http.HttpError, match=r"answered 503 .*\(tried 4 times\)") as caught,
    ):
        _post(receiver.url)
    assert len(receiver.requests) == 4
    assert len(caught.value.waits) == 3


def test_a_refused_connection_is_retried_then_reported():
    with pytest.raises(http.HttpError, match=r"cannot reach .*\(tried 4 times\)"):
        _post(closed_port())


def test_a_server_that_never_answers_is_bounded_by_the_timeout():
    hangs = r"did not answer .* within 0.3s \(tried 2 times\)"
    with silent() as url, pytest.raises(http.HttpError, match=hangs):
        _post(url, timeout=0.3, retry=http.Retry(attempts=2, backoff=0.01))


def test_retry_delays_double_and_are_capped():
    policy = http.Retry(backoff=1.0, max_backoff=5.0)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delay = policy.delay(retry)
        assert ceiling / 2 <= delay <= ceiling


# ------------------------------------------------------------------ issue 23


def test_retry_after_waits_are_bounded_in_total_and_the_error_says_so():
    """Delivery's policy: a receiver asking for 120 s again and again is given two waits
    (240 s), not four: a third would pass the 300 s budget, and the error says why."""
    from gitreg.integrations.notify.deliver import RETRY

    later = Answer(503, b"", {"Retry-After": "120"})
    budget = r"\(tried 3 times; stopped: another wait of 120s would pass the 300s budget"
    with serving(later) as receiver, pytest.raises(http.HttpError, match=budget) as caught:
        _post(receiver.url, retry=RETRY)
    assert caught.value.waits == [120.0, 120.0]
    assert len(receiver.requests) == 3


def test_a_retry_after_beyond_the_bound_says_why_it_stopped():
    later = Answer(429, b"", {"Retry-After": "86400"})
    stopped = "stopped: Retry-After asked for 86400s, more than the 120s gitreg waits at once"
    with serving(later) as receiver, pytest.raises(http.HttpError, match=stopped):
        _post(receiver.url)
    assert len(receiver.requests) == 1


def test_sign_makes_each_attempts_headers_afresh():
    calls = []

    def sign():
        calls.append(len(calls) + 1)
        return {"X-Attempt": str(len(calls))}

    with serving(Answer(503), Answer(200)) as receiver:
        _post(receiver.url, sign=sign)
    assert [s.headers["X-Attempt"] for s in receiver.requests] == ["1", "2"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ci.example/a\tb", "a tab (U+0009)"),
        ("https://ci.example/a\nb", "a newline (U+000A)"),
        ("https://ci.example/a b", "a space (U+0020)"),
        ("https://ci.exa\x00mple/", "a control character (U+0000)"),
        ("https://ci.example/\u200bx", "a control character (U+200B)"),
    ],
)
def test_a_url_with_a_space_or_control_character_is_refused_before_sending(url, shown):
    """#23: it reached http.client, which raised InvalidURL (exit 3, the URL printed)."""
    with pytest.raises(http.HttpError, match=re.escape(shown)) as caught:
        http.request("POST", url, label="$HOOK_URL", what="webhook ci")
    assert caught.value.message.startswith("webhook ci: the URL $HOOK_URL contains")
    assert "ci.example" not in caught.value.message


def test_a_peer_answer_is_redacted_bounded_and_one_printable_line():
    """The server stands in for a receiver that echoes the token, escaped three ways, with
    a terminal escape sequence and a long tail."""
    token = "tok/en+with=odd&chars"
    echoed = f"{token} {json.dumps(token)[1:-1].replace('/', chr(92) + '/')} "
    echoed += f"{urllib.parse.quote(token, safe='')} \x1b[2J\nnext line " + "z" * 5000
    with serving(Answer(403, {"message": echoed})) as api, pytest.raises(http.HttpError) as caught:
        _post(api.url, headers={"Authorization": f"Bearer {token}"})
    message = caught.value.message
    assert token not in message
    assert "tok" not in message.replace("[REDACTED]", "")
    assert message.count("[REDACTED]") == 3
    assert "\x1b" not in message
    assert "\n" not in message
    assert len(message) < 500


def test_a_short_token_is_redacted_where_it_stands_alone():
    answer = Answer(401, {"message": "token abc is not abcdef"})
    alone = r"token \[REDACTED\] is not abcdef"
    with serving(answer) as api, pytest.raises(http.HttpError, match=alone):
        _post(api.url, headers={"Authorization": "Bearer abc"})


def test_a_forge_that_drips_its_answer_is_cut_off(monkeypatch):
    """The server stands in for GitHub's API sending one byte every 0.25 s: opening a pull
    request ends at the forge timeout (1 s here), and is not repeated."""
    from gitreg.integrations.forges import base
    from tests._servers import body_drip, dripping

    monkeypatch.setattr(base, "TIMEOUT_SECONDS", 1.0)
    head, drip = body_drip()
    with (
        dripping(head, drip) as api,
        pytest.raises(ForgeError, match=r"did not answer POST http://127\.0\.0\.1:\d+/… within 1s"),
    ):
        GitHubForge("team/registry", "tok", api.url).open("b", "main", "t", "", [])
    assert len(api.sent) == 1
    assert api.sent[0] < len(drip)
