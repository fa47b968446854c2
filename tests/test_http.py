"""The integrations' HTTP client (issue 12's credential items, issue 13's retries).

Every peer is a real server on 127.0.0.1 started here (tests/_servers.py). A redirecting
server on one port pointing at a recording server on another port stands in for an
attacker's origin; scripted servers stand in for GitHub's API and webhook receivers.
Waits go through an injected ``sleep`` that records them, so no test sleeps for long and
none asserts on time.
"""

from __future__ import annotations

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
