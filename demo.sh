#!/usr/bin/env bash
# A tour of gitreg on a registry it creates: register two versions, promote one to Staging
# then Production, point @champion at it, resolve it, and read the history.
# Usage: ./demo.sh [DIR]   (default: a new temporary directory)
set -euo pipefail

DIR="${1:-$(mktemp -d)/registry}"
# A fresh machine may have no git identity; the demo's commits need one.
if ! git config user.name >/dev/null; then
    export GIT_AUTHOR_NAME="gitreg demo" GIT_COMMITTER_NAME="gitreg demo"
    export GIT_AUTHOR_EMAIL="demo@example.com" GIT_COMMITTER_EMAIL="demo@example.com"
fi

# Print each command as a user can paste it (arguments quoted where the shell needs it),
# then run it.
quote() {
    local arg quoted=()
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            quoted+=("$arg")
        else
            quoted+=("'${arg//\'/\'\\\'\'}'")
        fi
    done
    printf '%s' "${quoted[*]}"
}
step() { printf '\n\033[1m$ %s\033[0m\n' "$(quote "$@")"; "$@"; }

step gitreg init "$DIR"
cd "$DIR"
step gitreg create churn -d "Predicts 30-day churn from account activity" -t team=growth
step gitreg register churn runs:/4f2e9a/model --metric f1=0.91 -d "Baseline gradient boosting"
step gitreg register churn runs:/7c1d3b/model --metric f1=0.94 -d "Adds usage-trend features"
step gitreg transition churn 2 Staging
step gitreg tag churn 2 validation=passed
step gitreg transition churn 2 Production
step gitreg alias churn champion 2
step gitreg resolve models:/churn@champion
step gitreg resolve models:/churn/Production
step gitreg show churn
if gitreg history --help >/dev/null 2>&1; then
    step gitreg history churn
else
    step git log --format='%h %an  %s'
fi
printf '\nThe registry is in %s\n' "$DIR"
