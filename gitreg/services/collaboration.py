"""Registry's collaboration methods: model cards and comments on model versions (#29).

A base of ``Registry``. Cards (``models/<name>.md``) are registry files: written by commit,
checked by the gate, and an edit of the card of a model that holds a protected fact is a
reviewed request, like a promotion. Comments are not: they live on ``refs/gitreg/comments``
(``store.comments`` says why), never open a request, and are delivered as COMMENT_CREATED
events. The comment methods carry Databricks' names and fields (``create_comment``,
``update_comment``, ``delete_comment``; ``CommentObject``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gitreg.core import record
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.fields import now_ms, parse_version
from gitreg.core.names import check_name
from gitreg.services._host import RegistryHost

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.core.comment import Comment
    from gitreg.core.events import RegistryEvent
    from gitreg.integrations.forges.base import ThreadComment
    from gitreg.integrations.notify import Report as DeliveryReport
    from gitreg.store.comments import Found
    from gitreg.store.transaction import Transaction


class CommentNotFound(GitregError):
    """No comment has that id (Databricks answers RESOURCE_DOES_NOT_EXIST)."""

    error_code = "RESOURCE_DOES_NOT_EXIST"


class NotYourComment(GitregError):
    """Only a comment's author edits or deletes it (Databricks' rule)."""

    error_code = "PERMISSION_DENIED"


@record.dataclass(frozen=True, slots=True)
class CommentResult:
    """A comment written: the comment, the commit on the comments ref, and its delivery."""

    comment: Comment
    commit: str | None
    delivery: DeliveryReport | None = None
    pushed: bool = False


class Collaboration(RegistryHost):
    """Cards and comments; ``Registry`` provides the store, reads and writes."""

    # ---------------------------------------------------------------------- cards

    def get_model_card(self, name: str) -> Card | None:
        """The model card of ``name`` (``models/<name>.md``), None when it has none.

        Raises:
            ModelNotFound: there is no such model.
            InvalidManifest: the card does not parse (its finding says where and why).
        """
        from gitreg.core.card import card_path, parse_card

        self._read(name)
        path = card_path(name)
        text = self.store.read_bytes(path, self.at)
        if text is None:
            return None
        card, findings = parse_card(text, path)
        if card is None:
            raise InvalidManifest(str(findings[0]), findings)
        return card

    def set_model_card(self, name: str, text: str) -> Card:
        """Write the model card of ``name`` (Markdown with YAML front matter), one commit.

        On a registry with a remote, the card of a model that holds a protected fact (a
        version in a protected stage, a protected alias) changes through a pull request
        (PromotionPending), as the stage itself would.

        Raises:
            ModelNotFound: there is no such model.
            InvalidManifest: the card has a finding (front matter, field types, size).
        """
        from gitreg.core.card import card_path, parse_card
        from gitreg.services.operations import existing

        check_name(name)
        path = card_path(name)
        data = text.encode("utf-8")
        card, findings = parse_card(data, path)
        if card is None or findings:
            raise InvalidManifest(f"{findings[0]}; nothing was committed", findings)

        def mutation(tx: Transaction) -> Card:
            existing(tx, name)
            if tx.read(path) != data:
                tx.write(path, text)
                tx.message = f"Update the model card of {name}"
            return card

        result: Card = self._write(mutation)
        return result

    def delete_model_card(self, name: str) -> None:
        """Remove the model card of ``name`` (history keeps it); nothing if it has none."""
        from gitreg.core.card import card_path
        from gitreg.services.operations import existing

        path = card_path(name)

        def mutation(tx: Transaction) -> None:
            existing(tx, name)
            if tx.read(path) is not None:
                tx.delete(path)
                tx.message = f"Delete the model card of {name}"

        self._write(mutation)

    # ------------------------------------------------------------------- comments

    def create_comment(
        self, name: str, version: int | str, comment: str, *, notify: bool = True
    ) -> CommentResult:
        """Post a comment on a model version (Databricks' ``create_comment``).

        Stored on ``refs/gitreg/comments`` and pushed like any write (retried on a lost
        race); never a pull request. The author is git's (user.name, user.email). With
        ``notify``, COMMENT_CREATED goes to gitreg.yaml's subscriptions at once.

        Raises:
            ModelNotFound, VersionNotFound: there is no such model or version.
            InvalidParameter: the text is empty or longer than 65,535 characters.
        """
        from gitreg.core import mutations as mut
        from gitreg.core.comment import Comment, check_text
        from gitreg.store import comments

        number = parse_version(version)
        text = check_text(comment)
        mut.find_version(self._read(name), number)
        user, email = self._author()
        now = now_ms()
        import uuid  # platform and uuid: only for a comment (#26)

        made = Comment(uuid.uuid4().hex, name, number, text, user, now, now, email)

        def change(read: comments.Read) -> tuple[dict[str, bytes | None], Comment]:
            return {made.path: made.to_file().encode()}, made

        remote = self._comments_remote()
        written, commit = comments.write(
            self.store.root, remote, change, f"Comment on {name} version {number}"
        )
        delivery = self._announce(written, commit) if notify and commit else None
        return CommentResult(written, commit, delivery, remote is not None)

    def update_comment(self, id: str, comment: str) -> CommentResult:
        """Edit a comment (Databricks' ``update_comment``); only its author may.

        Raises:
            CommentNotFound: no comment has that id.
            NotYourComment: git's user.name is not the comment's author.
        """
        from gitreg.core.comment import check_text
        from gitreg.store import comments

        text = check_text(comment)
        found = self._find_comment(id)
        user, _email = self._author()

        def change(read: comments.Read) -> tuple[dict[str, bytes | None], Comment]:
            current = _current(read, found)
            _check_author(current, user, "edit")
            edited = record.replace(current, comment=text, last_updated_timestamp=now_ms())
            return {edited.path: edited.to_file().encode()}, edited

        remote = self._comments_remote()
        written, commit = comments.write(
            self.store.root, remote, change, f"Edit comment {id} on {found.name}"
        )
        return CommentResult(written, commit, None, remote is not None)

    def delete_comment(self, id: str) -> Comment:
        """Delete a comment (Databricks' ``delete_comment``); only its author may.

        The comments ref's history keeps it. Returns the comment as it was.

        Raises:
            CommentNotFound: no comment has that id.
            NotYourComment: git's user.name is not the comment's author.
        """
        from gitreg.store import comments

        found = self._find_comment(id)
        user, _email = self._author()

        def change(read: comments.Read) -> tuple[dict[str, bytes | None], Comment]:
            current = _current(read, found)
            _check_author(current, user, "delete")
            return {current.path: None}, current

        deleted, _commit = comments.write(
            self.store.root,
            self._comments_remote(),
            change,
            f"Delete comment {id} on {found.name}",
        )
        return deleted

    def list_comments(self, name: str, version: int | str, *, fetch: bool = True) -> list[Comment]:
        """The comments on a model version, oldest first (``fetch``: the remote's first)."""
        from gitreg.core.comment import version_dir

        number = parse_version(version)
        check_name(name)
        return list(self.read_comments(version_dir(name, number), fetch=fetch).comments)

    def read_comments(self, under: str | None = None, *, fetch: bool = True) -> Found:
        """Every comment (under ``<stem>[/<version>]``), with the files that are not valid
        comments; with ``fetch`` and a remote, the remote's comments are fetched first (an
        unreachable remote leaves this clone's: ``problems`` says so)."""
        from gitreg.core.errors import RemoteUnavailable
        from gitreg.store import comments

        remote = self._comments_remote(reading=True) if fetch else None
        note: tuple[str, ...] = ()
        if remote is not None:
            try:
                comments.fetch(self.store.root, remote)
            except RemoteUnavailable as e:
                note = (f"the remote's comments are not shown: {e.message}",)
        found = comments.read(self.store.root, under)
        return record.replace(found, problems=(*note, *found.problems))

    def comment_events(self, found: Sequence[Comment]) -> list[RegistryEvent]:
        """COMMENT_CREATED for each of ``found`` (as ``create_comment`` delivers them)."""
        return [_event(c, "") for c in found]

    def pull_request_thread(self, number: int) -> list[ThreadComment]:
        """The conversation of pull request ``number`` on the configured forge (its
        comments, oldest first; none on a registry without a forge).

        Raises:
            ForgeError: the forge cannot be asked (no token, unreachable).
        """
        from gitreg.integrations.forges import make_forge
        from gitreg.store.remote import remote_url

        config = self.store.read_config(self.at)
        forge = make_forge(config.forge, remote_url(self.store.root, config) or "", os.environ)
        return forge.thread(number)

    # ------------------------------------------------------------------ internals

    def _author(self) -> tuple[str, str | None]:
        from gitreg.store.comments import author

        return author(self.store.root)

    def _comments_remote(self, reading: bool = False) -> str | None:
        """The remote comments go to (None: this clone only); ``reading`` ignores --no-push."""
        from gitreg.store.remote import has_remote

        config = self.store.read_config()
        if not has_remote(self.store.root, config):
            return None
        if not reading and config.push_mode(self.push) == "never":
            return None
        return config.remote

    def _find_comment(self, comment_id: str) -> Comment:
        from gitreg.core.comment import check_id

        check_id(comment_id)
        for comment in self.read_comments().comments:
            if comment.id == comment_id:
                return comment
        raise CommentNotFound(
            f"Comment with id={comment_id} not found; gitreg comments URI --json lists ids"
        )

    def _announce(self, comment: Comment, commit: str) -> DeliveryReport | None:
        """Deliver COMMENT_CREATED to the subscriptions of the trusted gitreg.yaml."""
        from gitreg.integrations import notify
        from gitreg.store.verified import read_verified

        config_at = read_verified(self.store.root) or self.store.resolve_ref("HEAD")
        return notify.notify(self.store, [_event(comment, commit)], config_at, os.environ)


def _current(read: Callable[[str], bytes | None], found: Comment) -> Comment:
    """The comment as the tip holds it now (another clone may have deleted it)."""
    from gitreg.core.comment import comment_path, parse_file

    path = comment_path(found.name, found.version, found.id)
    text = read(path)
    if text is None:
        raise CommentNotFound(f"Comment with id={found.id} not found (it was deleted)")
    return parse_file(path, text)


def _check_author(comment: Comment, user: str, what: str) -> None:
    if comment.user_id != user:
        raise NotYourComment(
            f"Only {comment.user_id} can {what} comment {comment.id}; git says you are {user}"
        )


def _event(comment: Comment, commit: str) -> RegistryEvent:
    from gitreg.core.events import Event, EventKind, RegistryEvent
    from gitreg.core.fields import format_timestamp

    event = Event(
        EventKind.COMMENT_CREATED,
        comment.name,
        comment.version,
        comment=comment.comment,
        comment_id=comment.id,
    )
    return RegistryEvent(
        event,
        commit or comment.id,
        comment.user_id,
        comment.user_email or "",
        format_timestamp(comment.creation_timestamp),
    )
