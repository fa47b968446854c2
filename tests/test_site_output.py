"""``gitreg site OUTDIR`` trusts nothing it finds in OUTDIR, and ``--serve`` only loopback (#23).

OUTDIR is hostile input like any manifest: its build marker may be tampered with, and a
symbolic link inside it may point anywhere. Nothing is written or deleted outside OUTDIR,
and nothing is deleted that the previous build did not write (the marker records a SHA-256
of each file). OUTDIR itself may be a link: the user chose it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from gitreg.site import _dirfd
from gitreg.site.output import MARKER, OutputRefused, SiteOutput
from gitreg.site.serve import open_server
from tests._helpers import snapshot

posix_links = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX")


@pytest.fixture
def built(cli, tmp_path):
    """A registry with one model and a first build of its catalog in ``tmp_path/out``."""
    cli.ok("register", "churn", "s3://churn/1")
    out = tmp_path / "out"
    cli.ok("site", str(out))
    return out


@pytest.fixture
def victim(tmp_path):
    """A directory outside OUTDIR that holds a file someone cares about."""
    folder = tmp_path / "victim"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "keep.txt").write_text("precious\n")
    return folder


def _listing(out: Path) -> dict:
    return json.loads((out / MARKER).read_text("utf-8"))


def _tamper(out: Path, files: dict[str, str]) -> None:
    listing = _listing(out)
    listing["files"].update(files)
    (out / MARKER).write_text(json.dumps(listing))


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_marker_records_a_hash_of_every_file_written(built):
    listing = _listing(built)
    assert listing["format"] == 2
    assert listing["files"]["models/churn/v1.html"] == _sha(
        (built / "models/churn/v1.html").read_bytes()
    )
    assert set(listing["files"]) == set(_tree(built)) - {MARKER}


@posix_links
def test_a_tampered_marker_and_a_link_cannot_delete_outside(cli, built, victim, registry_repo):
    """The issue's attack: the marker lists evil/sub/keep.txt and OUTDIR/evil -> elsewhere."""
    digest = _sha(b"precious\n")  # even knowing the content does not help
    _tamper(built, {"evil/sub/keep.txt": digest, "../victim/sub/keep.txt": digest})
    (built / "evil").symlink_to(victim)
    before = snapshot(registry_repo)

    result = cli.fails(2, "site", str(built))

    assert result.stderr.strip().splitlines() == [
        f"Error: Invalid value for OUTDIR: {built / 'evil'} is a symbolic link inside the "
        "site directory; gitreg site never writes or deletes through a link there: remove it "
        "(the site's own files are plain files)"
    ]
    assert (victim / "sub" / "keep.txt").read_text() == "precious\n"
    assert snapshot(registry_repo) == before
    (built / "evil").unlink()
    cli.ok("site", str(built))  # the tampered entries are not deleted: they are not its files
    assert (victim / "sub" / "keep.txt").read_text() == "precious\n"


@posix_links
def test_a_link_that_appears_during_the_build_is_never_followed_to_delete(built, victim):
    """Past the check before the build: the deletes themselves never go through a link."""
    _tamper(built, {"evil/sub/keep.txt": _sha(b"precious\n")})
    (built / "evil").symlink_to(victim)
    out = SiteOutput(built)  # as if the link had been made after check_outdir looked

    out.finish()

    assert (victim / "sub" / "keep.txt").read_text() == "precious\n"
    assert (built / "evil").is_symlink()


@posix_links
@pytest.mark.parametrize("dir_fds", [True, False], ids=["descriptors", "lstat"])
def test_a_linked_directory_is_never_written_through(built, victim, dir_fds):
    """OUTDIR/models -> elsewhere: the pages would land outside; the write is refused."""
    if dir_fds and not _dirfd.SUPPORTED:
        pytest.skip("this platform has no O_NOFOLLOW directory descriptors")
    shutil.rmtree(built / "models")
    (built / "models").symlink_to(victim)
    before = _tree(victim)
    tree = _dirfd.Tree(built, lambda path, kind: OutputRefused(f"{path} is {kind}"), dir_fds)

    with pytest.raises(OutputRefused, match="models is a symbolic link"):
        tree.write(["models", "sub"], "keep.txt", b"overwritten\n")
    with pytest.raises(OutputRefused, match="models is a symbolic link"):
        tree.write(["models", "churn"], "index.html", b"<p>page</p>\n")
    assert tree.read(["models", "sub"], "keep.txt", limit=None) is None
    assert not tree.unlink(["models", "sub"], "keep.txt")
    tree.close()
    assert _tree(victim) == before
    assert sorted(p.name for p in victim.iterdir()) == ["sub"]


@posix_links
@pytest.mark.parametrize("dir_fds", [True, False], ids=["descriptors", "lstat"])
def test_a_link_where_a_page_goes_is_replaced_never_written_through(built, victim, dir_fds):
    """A page is created in place only where nothing is (O_EXCL, which never follows a link):
    a link planted at the page's own path is replaced by the page, the file it names is kept."""
    if dir_fds and not _dirfd.SUPPORTED:
        pytest.skip("this platform has no O_NOFOLLOW directory descriptors")
    (built / "models" / "churn" / "v9.html").symlink_to(victim / "sub" / "keep.txt")
    (built / "models" / "churn" / "v8.html").symlink_to(victim / "sub" / "absent.txt")
    tree = _dirfd.Tree(built, lambda path, kind: OutputRefused(f"{path} is {kind}"), dir_fds)

    tree.write(["models", "churn"], "v9.html", b"<p>nine</p>\n")
    tree.write(["models", "churn"], "v8.html", b"<p>eight</p>\n")
    tree.close()

    assert (victim / "sub" / "keep.txt").read_text() == "precious\n"
    assert not (victim / "sub" / "absent.txt").exists()
    for name, text in (("v9.html", "<p>nine</p>\n"), ("v8.html", "<p>eight</p>\n")):
        page = built / "models" / "churn" / name
        assert not page.is_symlink()
        assert page.read_text() == text
    assert not [p for p in (built / "models" / "churn").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("dir_fds", [True, False], ids=["descriptors", "lstat"])
def test_files_across_many_directories_land_where_named(tmp_path, dir_fds):
    """More directories than the descriptors a tree keeps open, visited in turns: every file
    is in its own directory, new ones created and existing ones replaced."""
    if dir_fds and not _dirfd.SUPPORTED:
        pytest.skip("this platform has no O_NOFOLLOW directory descriptors")
    tree = _dirfd.Tree(tmp_path, lambda path, kind: OutputRefused(f"{path} is {kind}"), dir_fds)
    for round_ in range(2):
        for m in range(40):
            for folders in (["models", f"m{m}"], ["models", f"m{m}", "data"], ["api", "models"]):
                name = f"m{m}.json" if folders[0] == "api" else "f.html"
                tree.write(folders, name, f"{'/'.join(folders)} {round_}\n".encode())
    tree.close()

    assert (tmp_path / "models" / "m39" / "data" / "f.html").read_text() == "models/m39/data 1\n"
    assert (tmp_path / "models" / "m0" / "f.html").read_text() == "models/m0 1\n"
    assert len(list((tmp_path / "api" / "models").iterdir())) == 40
    assert (tmp_path / "api" / "models" / "m7.json").read_text() == "api/models 1\n"


@posix_links
def test_models_as_a_link_is_refused_before_anything_is_written(cli, built, victim):
    for path in sorted(built.rglob("*"), reverse=True):
        if path.name != MARKER:
            path.unlink() if path.is_file() else path.rmdir()
    (built / "models").symlink_to(victim)
    before = _tree(victim)

    result = cli.fails(2, "site", str(built))

    assert f"{built / 'models'} is a symbolic link inside the site directory" in result.stderr
    assert _tree(victim) == before
    assert sorted(p.name for p in built.iterdir()) == [MARKER, "models"]


@posix_links
def test_outdir_itself_may_be_a_link_the_user_chose(cli, tmp_path):
    cli.ok("register", "churn", "s3://churn/1")
    real = tmp_path / "published"
    real.mkdir()
    (tmp_path / "out").symlink_to(real)

    cli.ok("site", str(tmp_path / "out"))
    cli.ok("site", str(tmp_path / "out"))  # and rebuilt through it

    assert (real / "models" / "churn" / "v1.html").is_file()
    assert (tmp_path / "out").is_symlink()


def test_only_files_with_the_recorded_content_are_deleted(cli, built):
    """A marker can name your files, but not make gitreg delete them."""
    (built / "CNAME").write_text("models.example.com\n")
    (built / "notes").mkdir()
    (built / "notes" / "todo.md").write_text("mine\n")
    (built / "old.html").write_text("<p>a page of the previous build</p>\n")
    _tamper(
        built,
        {
            "CNAME": _sha(b"something else\n"),
            "notes/todo.md": "not a hash",
            "old.html": _sha(b"<p>a page of the previous build</p>\n"),
            "/etc/hostname": _sha(b""),
            "../out/CNAME": _sha(b"models.example.com\n"),
        },
    )

    cli.ok("site", str(built))

    assert (built / "CNAME").read_text() == "models.example.com\n"
    assert (built / "notes" / "todo.md").read_text() == "mine\n"
    assert not (built / "old.html").exists()
    assert set(_listing(built)["files"]) == set(_tree(built)) - {MARKER, "CNAME", "notes/todo.md"}


@pytest.mark.parametrize(
    "hostile",
    [
        {"old.html\nindex.html": "0" * 64},  # one path that reads as two plain lines
        {"old.html": "A" * 64},  # upper-case hex is not what gitreg writes
        {"old.html": "0" * 63 + "\u00e9"},
        {"old.html": "0" * 65},
        {"../old.html": "0" * 64},
        {MARKER: "0" * 64},
    ],
    ids=["newline", "upper-hex", "non-ascii", "long", "dotdot", "marker"],
)
def test_one_hostile_entry_makes_the_listing_checked_entry_by_entry(built, hostile):
    """A listing is taken whole only when every entry is a plain path with a SHA-256 (#26's
    one-pass check); one entry that is not sends it through the entry-by-entry check,
    which drops (or, without a hash, never deletes) what it cannot vouch for."""
    from gitreg.site.output import previous_listing

    listing = _listing(built)
    own = dict(listing["files"])
    listing["files"] = {**own, **hostile}
    (built / MARKER).write_text(json.dumps(listing))
    found = previous_listing(built)
    assert {p: d for p, d in found.items() if p in own} == own
    assert set(found) <= set(own) | set(hostile)  # a newline never splits a path in two
    for path, digest in hostile.items():
        if path.startswith("..") or path == MARKER:
            assert path not in found
        elif len(digest) != 64 or set(digest) - set("0123456789abcdef"):
            assert found[path] is None  # kept in the listing, never deleted


def test_an_older_marker_without_hashes_deletes_nothing_and_says_so(cli, built):
    (built / "old.html").write_text("<p>stale</p>\n")
    files = [*_listing(built)["files"], "old.html"]
    (built / MARKER).write_text(
        json.dumps({"generator": "gitreg site", "format": 1, "files": files})
    )

    result = cli.ok("site", str(built))

    assert (built / "old.html").is_file()
    assert "1 file(s) of the previous build were left in" in result.stderr
    assert _listing(built)["format"] == 2


@pytest.mark.parametrize(
    "marker",
    [b"{not json", b"[1, 2]", b'{"files": {"index.html": 5}}', b"\xff\xfe", b"{}" + b" " * 10],
    ids=["syntax", "list", "digest-type", "bytes", "empty"],
)
def test_a_garbled_marker_only_costs_the_cleanup(cli, built, marker):
    (built / MARKER).write_bytes(marker)
    cli.ok("site", str(built))
    assert _listing(built)["format"] == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_marker_that_is_a_fifo_is_refused_not_read(cli, built):
    """Opening a FIFO for reading would wait forever for a writer."""
    (built / MARKER).unlink()
    os.mkfifo(built / MARKER)
    result = cli.fails(2, "site", str(built))
    assert f"holds files that gitreg site did not write (it has no {MARKER})" in result.stderr


def test_a_directory_where_a_page_goes_is_one_clear_error(cli, built):
    (built / "models" / "churn" / "v1.html").unlink()
    (built / "models" / "churn" / "v1.html").mkdir()
    result = cli.fails(2, "site", str(built))
    assert "v1.html is a directory where a page goes inside the site directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------- --serve and Host (#23)


@pytest.fixture
def served(tmp_path):
    """gitreg's catalog server on a free port, serving a small directory."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>catalog</p>\n")
    with open_server(site, 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield site, server.server_address[1]
        finally:
            server.shutdown()
            thread.join()


def _get(port: int, host: str | None, path: str = "/index.html", method: str = "GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_serve_answers_requests_for_its_loopback_names(served, name):
    _, port = served
    assert _get(port, f"{name}:{port}") == (200, "<p>catalog</p>\n")


@pytest.mark.parametrize(
    "host",
    [
        "rebind.attacker.example:{port}",
        "rebind.attacker.example",
        "127.0.0.1",
        "127.0.0.1:1",
        "localhost.attacker.example:{port}",
        "127.0.0.1:{port}.attacker.example",
    ],
)
def test_serve_refuses_a_foreign_host_header(served, host):
    """A browser on an attacker's page whose name now resolves to 127.0.0.1 (DNS rebinding)."""
    _, port = served
    status, body = _get(port, host.format(port=port))
    assert status == 421
    assert body.count("\n") == 1
    assert body.endswith("\n")
    assert f"answers only requests for http://127.0.0.1:{port}/" in body
    assert "catalog" not in body
    assert _get(port, host.format(port=port), method="HEAD")[0] == 421


def test_serve_refuses_a_request_without_a_host(served):
    _, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 400")
    assert b"catalog" not in answer


@posix_links
def test_serve_never_follows_a_link_out_of_the_site(served, victim):
    site, port = served
    (site / "evil").symlink_to(victim)
    status, body = _get(port, f"127.0.0.1:{port}", "/evil/sub/keep.txt")
    assert status == 404
    assert "precious" not in body


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs")
def test_an_outdir_that_cannot_be_written_is_one_line_not_a_crash(cli, built):
    """sysfs refuses new directories even to root: a stand-in for a read-only or full disk."""
    result = cli.fails(1, "site", "/sys/kernel/gitreg-catalog")
    assert result.stderr.strip().splitlines() == [
        "Error: cannot write /sys/kernel/gitreg-catalog: Operation not permitted; check that "
        "OUTDIR is writable and the disk has room, then build again"
    ]
