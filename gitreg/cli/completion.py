"""Shell completion of ``models:/`` URIs, and the bash and zsh scripts that carry it (#27).

``complete_uri`` offers what a URI can say next: ``models:/NAME/`` (and ``models:/NAME@``
when the model has aliases), then the model's versions, stages and ``latest``, or its
aliases. It reads as the other completions do: a listing of models/ and, once a name is
typed, that one manifest.

bash splits the word being completed at ``:`` (``COMP_WORDBREAKS``), so click's own bash
script hands ``/ch`` to gitreg for ``models:/ch``. The script below sends the command line
up to the cursor instead, and gitreg answers with the part of each completion that bash
will put in place of its own last word. A completion that goes on (``models:/churn/``,
``models:/churn@``) gets no space after it, in bash and zsh; fish adds none after ``/``
or ``@`` by itself. Enable completion as ``gitreg --help`` says.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    ZshComplete,
    add_completion_class,
    split_arg_string,
)

if TYPE_CHECKING:
    from gitreg.core.entities import RegisteredModel
    from gitreg.store.store import Store

SCHEME = "models:/"
# A model read for its aliases costs one manifest: offer models:/NAME@ only when few match.
_ALIAS_READS = 20
_GOES_ON = ("/", "@")  # a completion ending so is not finished: no space after it


def store_for(ctx: click.Context) -> Store | None:
    """The registry a command line being completed names, or None: completion never fails."""
    from gitreg.core.errors import GitregError
    from gitreg.store.store import Store

    root = ctx.find_root()
    repo = ctx.params.get("repo") or root.params.get("repo") or os.environ.get("GITREG_REPO")
    try:
        return Store.discover(repo)
    except (GitregError, OSError):
        return None


def complete_uri(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """``models:/`` URIs of the registry on the command line being completed."""
    store = store_for(ctx)
    if store is None:
        return []
    return [CompletionItem(value) for value in uri_completions(store, incomplete)]


def uri_completions(store: Store, incomplete: str) -> list[str]:
    """What may follow ``incomplete`` in a ``models:/`` URI, as whole URIs."""
    if incomplete.startswith(SCHEME):
        rest = incomplete[len(SCHEME) :]
    elif SCHEME.startswith(incomplete):
        rest = ""  # "", "m", "models:" ...: the scheme, then a name
    else:
        return []
    name, slash, part = rest.partition("/")
    if slash:
        return [f"{SCHEME}{name}/{v}" for v in _suffixes(_model(store, name), part)]
    name, at, part = rest.rpartition("@")  # as MLflow: a name may itself contain "@"
    model = _model(store, name) if at else None
    if model is not None:
        return [f"{SCHEME}{name}@{a}" for a in model.aliases if a.startswith(part)]
    return _names(store, rest)


def _names(store: Store, typed: str) -> list[str]:
    """``models:/NAME/`` for each model whose name starts with ``typed`` (and ``@``)."""
    names = [n for n in store.model_names() if n.lower().startswith(typed.lower())]
    out = []
    for name in names:
        out.append(f"{SCHEME}{name}/")
        model = _model(store, name) if len(names) <= _ALIAS_READS else None
        if model is not None and model.aliases:
            out.append(f"{SCHEME}{name}@")
    return out


def _suffixes(model: RegisteredModel | None, typed: str) -> list[str]:
    """A model's versions, the stages and ``latest``, that start with ``typed`` (any case)."""
    from gitreg.core.entities import Stage

    if model is None:
        return []
    values = [str(mv.version) for mv in model.versions] + [*(s.value for s in Stage), "latest"]
    return [v for v in values if v.lower().startswith(typed.lower())]


def _model(store: Store, name: str) -> RegisteredModel | None:
    from gitreg.core.errors import GitregError

    if not name:
        return None
    try:
        return store.read_model(name)
    except GitregError:
        return None  # completion never fails


# ------------------------------------------------------------------- the shell scripts

# click's bash script, but sending the line up to the cursor (COMP_LINE) and bash's word
# breaks, and leaving no space after a completion that goes on.
_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD \\
COMP_LINE="${COMP_LINE:0:$COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
            if [[ $value == */ || $value == *@ ]]; then
                compopt -o nospace
            fi
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


class GitregBash(BashComplete):
    """bash completion that survives the ``:`` of ``models:/`` (see the module doc)."""

    source_template = _SOURCE_BASH

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaks_at = ""  # the part of the word bash has already split off

    def get_completion_args(self) -> tuple[list[str], str]:
        """The words before the cursor's and the word at the cursor, from COMP_LINE."""
        line = os.environ.get("COMP_LINE")
        if line is None:  # a script sourced from an older gitreg: click's own way
            return super().get_completion_args()
        words = split_arg_string(line)
        incomplete = "" if not line or line[-1].isspace() or not words else words.pop()
        breaks = set(os.environ.get("COMP_WORDBREAKS", "")) - set(" \t\n\"'")
        cut = max((incomplete.rfind(c) for c in breaks), default=-1)
        self.breaks_at = incomplete[: cut + 1]
        return words[1:], incomplete

    def format_completion(self, item: CompletionItem) -> str:
        """``type,value``, the value without what bash holds as earlier words."""
        value = str(item.value)
        if item.type == "plain" and self.breaks_at and value.startswith(self.breaks_at):
            value = value[len(self.breaks_at) :]
        return f"{item.type},{value}"


# click's zsh script, with completions that go on added without a space after them.
_SOURCE_ZSH = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_going_on
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \\
%(complete_var)s=zsh_complete %(prog_name)s)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" != "_" ]]; then
                completions_with_descriptions+=("$key":"$descr")
            elif [[ "$key" == */ || "$key" == *@ ]]; then
                completions_going_on+=("$key")
            else
                completions+=("$key")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if [ -n "$completions_going_on" ]; then
        compadd -U -V unsorted -S '' -a completions_going_on
    fi

    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    %(complete_func)s "$@"
else
    compdef %(complete_func)s %(prog_name)s
fi
"""


class GitregZsh(ZshComplete):
    """zsh completion with no space after ``models:/churn/`` (see the module doc)."""

    source_template = _SOURCE_ZSH


def register() -> None:
    """Use gitreg's bash and zsh scripts for ``_GITREG_COMPLETE=bash_source`` and the rest."""
    add_completion_class(GitregBash, "bash")
    add_completion_class(GitregZsh, "zsh")
