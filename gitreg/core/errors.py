"""The exception hierarchy. Every error a user can cause is a GitregError with MLflow's code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitreg.core.finding import Finding

RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
INVALID_STATE = "INVALID_STATE"
INTERNAL_ERROR = "INTERNAL_ERROR"


def printable(message: str, multiline: bool = False) -> str:
    """``message`` safe for a terminal: control characters and stray bytes escaped.

    An error is one line unless it is a list by design (``GitregError.multiline``): a
    newline, NUL or byte that is not UTF-8 in a user's value never breaks it up.
    """
    out = []
    for char in message:
        if (char == "\n" and multiline) or char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    return "".join(out)


class GitregError(Exception):
    """Base of every error gitreg raises on purpose; ``error_code`` follows MLflow's."""

    error_code: str = INVALID_STATE
    multiline = False  # a list by design (e.g. every problem of an import); else one line

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code

    def to_dict(self) -> dict[str, str]:
        """The shape of MLflow's REST error body."""
        return {"error_code": self.error_code, "message": self.message}


class NotARegistry(GitregError):
    """The path is not a gitreg registry (no git repository or no gitreg.yaml)."""

    error_code = INVALID_PARAMETER_VALUE


class ModelNotFound(GitregError):
    error_code = RESOURCE_DOES_NOT_EXIST


class VersionNotFound(GitregError):
    error_code = RESOURCE_DOES_NOT_EXIST


class AliasNotFound(GitregError):
    """An alias that is not set; INVALID_PARAMETER_VALUE, as MLflow reports it."""

    error_code = INVALID_PARAMETER_VALUE


class ModelAlreadyExists(GitregError):
    error_code = RESOURCE_ALREADY_EXISTS


class InvalidParameter(GitregError):
    error_code = INVALID_PARAMETER_VALUE


class InvalidFilter(InvalidParameter):
    """A search filter or order_by clause that does not parse."""


class InvalidUri(InvalidParameter):
    """A ``models:/`` URI that does not parse."""


class InvalidManifest(GitregError):
    """A manifest or gitreg.yaml that breaks the schema or an invariant."""

    error_code = INVALID_STATE

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class NotRegularFile(InvalidManifest):
    """A registry path is a link, a directory, a device or a FIFO where a file belongs."""


_GIT_KINDS = {"120000": "a symbolic link", "040000": "a directory", "160000": "a submodule"}


def git_kind(mode: str) -> str:
    """What a git tree entry of ``mode`` is, in the words of ``not_regular``."""
    return _GIT_KINDS.get(mode, f"git mode {mode}")


def not_a_models_directory(problem: str) -> NotRegularFile:
    """The error for ``models`` being a link or another non-directory: ``problem`` says what."""
    return NotRegularFile(
        f"{problem}; gitreg reads only a real models/ directory: replace the link with the "
        "directory"
    )


def not_regular(path: str, what: str) -> NotRegularFile:
    """The error for ``path`` being ``what`` (a symbolic link, a directory ...) (see #12)."""
    return NotRegularFile(
        f"{path} is {what}, not a regular file; gitreg reads only regular files "
        "(git mode 100644) there: replace it with the file itself"
    )


class TransitionNotAllowed(GitregError):
    """A stage change the policy or the one-Production rule refuses."""

    error_code = INVALID_STATE


class DirtyWorktree(GitregError):
    """A manifest the write would touch has uncommitted edits."""

    error_code = INVALID_STATE


class ConcurrentUpdate(GitregError):
    """Another writer moved the branch and the retries ran out."""

    error_code = INVALID_STATE


class PushRejected(GitregError):
    """The remote refused the push."""

    error_code = INVALID_STATE


class GitFailed(GitregError):
    """A git command failed for a reason the user has to fix (permissions, corrupt repo...)."""

    error_code = INTERNAL_ERROR


class BadRef(GitregError):
    """A ``--at``/``--base`` revision that does not name a commit."""

    error_code = INVALID_PARAMETER_VALUE


class RemoteUnavailable(PushRejected):
    """The remote could not be reached (network, authentication, missing repository)."""


class BranchDiverged(ConcurrentUpdate):
    """The local branch has commits the remote lacks, and the remote has moved on."""


class ForgeError(GitregError):
    """The forge (GitHub, GitLab) refused or failed an API call."""

    error_code = INVALID_STATE


class ForgeTokenMissing(ForgeError):
    """The forge gitreg.yaml names needs a token, and the environment has none."""


class PullRequestNotOpened(ForgeError):
    """A request branch was pushed, but the forge did not open its pull request (#27).

    The change is proposed (``branch`` is on the remote, and running the same write again
    finds it and opens the pull request); ``open_url`` is the forge's page that opens it
    by hand (None when the forge's web address is unknown).
    """

    def __init__(self, message: str, *, branch: str = "", open_url: str | None = None) -> None:
        super().__init__(message)
        self.branch = branch
        self.open_url = open_url


class PromotionPending(GitregError):
    """A protected stage change was proposed as a pull request; it happens when merged.

    Not a failure of the request itself: ``url`` (None for the ``none`` forge) and
    ``branch`` say where the request is, ``created`` whether this call opened it.
    """

    error_code = INVALID_STATE

    def __init__(
        self,
        message: str,
        *,
        branch: str,
        url: str | None = None,
        number: int | None = None,
        created: bool = True,
    ) -> None:
        super().__init__(message)
        self.branch = branch
        self.url = url
        self.number = number
        self.created = created


class WebhookNotFound(GitregError):
    """No subscription in gitreg.yaml has that name or id (MLflow's message and code)."""

    error_code = RESOURCE_DOES_NOT_EXIST


class DeliveryFailed(GitregError):
    """Some events were not delivered (``gitreg notify`` exits 1 after its summary)."""

    error_code = INVALID_STATE


class ArtifactUnreadable(GitregError):
    """A version's artifact cannot be read to compute its digest; the message says why (#28)."""

    error_code = RESOURCE_DOES_NOT_EXIST


class DigestMismatch(GitregError):
    """An artifact's bytes are not those a digest names (a given one, or the recorded one)."""

    error_code = INVALID_STATE


class SigningUnavailable(GitregError):
    """Signatures must be checked or made, and the ``signing`` extra is not installed."""

    error_code = INVALID_STATE
