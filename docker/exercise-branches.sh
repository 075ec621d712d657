#!/bin/sh
# Creates the course's delivery branches ej1 ... ej8 (`make exercise-branches`).
#
# Usage: sh docker/exercise-branches.sh        (from anywhere inside the clone)
#
# One system serves every exercise; what differs per exercise is the clients' mode, and
# generar-compose.sh takes its default from one line, `default_exercise=N`. So branch ejN is
# the current commit (the base) plus one commit that rewrites that line to N: on ejN the
# course's plain `bash generar-compose.sh docker-compose-dev.yaml <clients>` runs exercise N
# (1-4 echo, 5 one bet, 6-8 agency uploads).
#
# The commits are made with git plumbing and a temporary index, so the working tree, the
# index and the current branch are never touched; uncommitted changes are not part of them.
#
# Running it again is safe: a branch that is already one such commit on the base is kept as
# it is, any other is moved to a fresh commit on the base, all eight in one atomic ref update.
# If HEAD is itself an exercise commit (you are on ejN), its parent is the base. It refuses,
# changing nothing, when
#   - generar-compose.sh has no `default_exercise=` line, or more than one;
#   - a branch that needs to move is checked out in some worktree (its files would no longer
#     match the branch): switch that worktree to another branch first;
#   - a branch ejN exists and its tip is not a commit made by this script (it may hold your
#     work): rename or delete it, or run with FORCE=1 to move it anyway (the reflog keeps it).
set -eu

# The exercise → mode map of generar-compose.sh's `case $default_exercise`, for the messages.
mode_of() {
    case $1 in
        1 | 2 | 3 | 4) echo echo ;;
        5) echo bet ;;
        *) echo agency ;;
    esac
}

die() {
    echo "exercise-branches: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) \
    || die "$here is not inside a git clone; make exercise-branches needs the repository's history"
cd "$top"

generator=generar-compose.sh
trailer_key=Exercise-Branch

head=$(git rev-parse --verify -q 'HEAD^{commit}') || die "HEAD has no commit yet"

# The message of commit $1, exactly as stored.
message_of() {
    git cat-file commit "$1" | sed '1,/^$/d'
}

# Is commit $1 one that this script made for branch $2 (ejN, or any ej1-8 when $2 is empty)?
# Such a commit has one parent and ends with the trailer "Exercise-Branch: ejN".
is_exercise_commit() {
    [ "$(git rev-list --parents -n 1 "$1" | wc -w)" -eq 2 ] || return 1
    message_of "$1" | grep -q "^$trailer_key: ${2:-ej[1-8]}\$"
}

base=$head
base_note="HEAD"
if is_exercise_commit "$head" ""; then
    base=$(git rev-parse "$head^")
    base_note="the parent of HEAD, which is an exercise commit"
fi
short_base=$(git rev-parse --short "$base")

# --no-optional-locks: not even the index's stat cache is refreshed.
if [ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    echo "exercise-branches: note: uncommitted changes are not part of the branches (they are made from commit $short_base)" >&2
fi

# The generator as committed in the base, and its one default_exercise line.
git cat-file -e "$base:$generator" 2>/dev/null || die "$generator is not in commit $short_base"
file_mode=$(git ls-tree "$base" -- "$generator" | cut -d' ' -f1)
lines=$(git cat-file blob "$base:$generator" | grep -n '^[[:space:]]*default_exercise=' | cut -d: -f1 | tr '\n' ' ')
# shellcheck disable=SC2086 # split on purpose: one positional parameter per line number
set -- $lines
case $# in
    1) ;;
    0) die "$generator (commit $short_base) has no line 'default_exercise=N': the branches rewrite that line, so there is nothing to rewrite" ;;
    *) die "$generator (commit $short_base) has $# lines 'default_exercise=' (lines ${lines% }): expected exactly one, so which one to rewrite is ambiguous" ;;
esac

# Without a configured identity `git commit-tree` refuses; name the tool instead of failing.
if ! git var GIT_AUTHOR_IDENT >/dev/null 2>&1; then
    export GIT_AUTHOR_NAME="tp0 make exercise-branches" GIT_AUTHOR_EMAIL="exercise-branches@tp0.invalid"
    echo "exercise-branches: note: no git identity configured; committing as $GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>" >&2
fi
if ! git var GIT_COMMITTER_IDENT >/dev/null 2>&1; then
    export GIT_COMMITTER_NAME="tp0 make exercise-branches" GIT_COMMITTER_EMAIL="exercise-branches@tp0.invalid"
fi

# Every worktree of this repository and its branch: a branch checked out anywhere must not move.
worktrees=$(git worktree list --porcelain)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tp0-exercise-branches.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
: >"$scratch/updates"
: >"$scratch/report"
refusals=0

# A private index holding the base's tree: each branch replaces only the generator in it.
export GIT_INDEX_FILE="$scratch/index"
git read-tree "$base"

n=1
while [ "$n" -le 8 ]; do
    branch=ej$n
    ref=refs/heads/$branch
    mode=$(mode_of "$n")
    {
        echo "$branch: exercise $n is the default (mode $mode)"
        echo
        echo "On this branch \`bash $generator docker-compose-dev.yaml <clients>\`, with no mode"
        echo "argument and no CLIENT_MODE, generates the deployment of exercise $n ($mode clients):"
        echo "the one line default_exercise= of $generator says $n. Made by \`make exercise-branches\`."
        echo
        echo "$trailer_key: $branch"
    } >"$scratch/message-$n"

    # The base's tree with only the default_exercise line rewritten.
    blob=$(git cat-file blob "$base:$generator" \
        | sed "s/^\([[:space:]]*\)default_exercise=.*/\1default_exercise=$n/" \
        | git hash-object -w --stdin)
    git update-index --cacheinfo "$file_mode,$blob,$generator"
    tree=$(git write-tree)

    old=$(git rev-parse --verify -q "$ref^{commit}" || true)
    # Already right: one commit on the base, with this tree and this message. Kept, so a second
    # run changes nothing and a checked-out ejN stays in step with its worktree.
    if [ -n "$old" ] && [ "$(git rev-parse "$old^{tree}")" = "$tree" ] \
        && [ "$(git rev-list --parents -n 1 "$old")" = "$old $base" ] \
        && message_of "$old" | cmp -s - "$scratch/message-$n"; then
        echo "$branch: unchanged $(git rev-parse --short "$old") on $short_base (exercise $n, mode $mode)" >>"$scratch/report"
        n=$((n + 1))
        continue
    fi

    where=$(printf '%s\n' "$worktrees" | awk -v ref="$ref" '/^worktree /{w=substr($0, 10)} $0 == "branch " ref {print w}')
    if [ -n "$where" ]; then
        echo "exercise-branches: $branch is checked out in $where and is not exercise $n on $short_base; moving it would leave that worktree's files out of step. Switch it to another branch (git switch main) and run again." >&2
        refusals=$((refusals + 1))
    elif [ -n "$old" ] && [ "${FORCE:-}" != 1 ] && ! is_exercise_commit "$old" "$branch"; then
        echo "exercise-branches: $branch exists at $(git rev-parse --short "$old") ($(git log -1 --format=%s "$old")), which is not a commit made by make exercise-branches and may hold your work. Rename it (git branch -m $branch $branch-old), delete it, or run with FORCE=1 to move it anyway." >&2
        refusals=$((refusals + 1))
    fi

    commit=$(git commit-tree "$tree" -p "$base" -F "$scratch/message-$n")
    if [ -n "$old" ]; then
        echo "update $ref $commit $old" >>"$scratch/updates"
        echo "$branch: moved $(git rev-parse --short "$old") -> $(git rev-parse --short "$commit") on $short_base (exercise $n, mode $mode)" >>"$scratch/report"
    else
        echo "create $ref $commit" >>"$scratch/updates"
        echo "$branch: created $(git rev-parse --short "$commit") on $short_base (exercise $n, mode $mode)" >>"$scratch/report"
    fi
    n=$((n + 1))
done

if [ "$refusals" -gt 0 ]; then
    die "nothing changed: $refusals branch(es) refused (see above)"
fi

# All or nothing: update-ref --stdin locks every ref and checks every old value first.
if [ -s "$scratch/updates" ]; then
    git update-ref -m "make exercise-branches: exercise commits on $short_base" --stdin <"$scratch/updates" \
        || die "updating the branches failed; nothing changed"
fi
echo "exercise-branches: base $short_base ($base_note): $(git log -1 --format=%s "$base")"
cat "$scratch/report"
