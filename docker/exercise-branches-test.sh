#!/bin/sh
# Tests `make exercise-branches` (docker/exercise-branches.sh) in temporary clones; needs git
# and make, no Docker. Part of `make test` (target exercise-branches-test).
#
# Usage: sh docker/exercise-branches-test.sh
#
# The clone gets this working tree's files (committed there when they differ from HEAD), so
# what is tested is what you have, committed or not. Then:
#   - in a clone with staged, unstaged and untracked changes, `make exercise-branches` twice:
#     eight branches, each exactly one commit on HEAD that changes only the default_exercise
#     line; the second run changes nothing; HEAD, index and working tree are untouched;
#   - in a clone of that clone (as a grader would get it), on each ejN the course's plain
#     `bash generar-compose.sh docker-compose-dev.yaml 3` with CLIENT_MODE unset generates the
#     exercise's mode: echo for 1-4, bet (NOMBRE=...) for 5, agency (.data/agency-N.csv
#     mounted at /agency.csv) for 6-8; so does `make compose-file` (make docker-compose-up's);
#   - re-runs: on ejN itself (its parent is the base), after a new commit (all moved), with a
#     checked-out ejN that must move, a foreign ejN, FORCE=1, a generator with the
#     default_exercise line missing or doubled (refused, no ref changed), no git identity.
# Prints PASS/FAIL per check and "N passed, M failed"; exits 1 on any failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(git -C "$here" rev-parse --show-toplevel)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tp0-branches-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

passed=0
failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# check <description> <command...>: PASS when the command succeeds.
check() {
    what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

repo=$scratch/repo
git clone -q "$src" "$repo"

# This working tree over the clone's: tracked and untracked-but-not-ignored files, deletions too.
(cd "$repo" && git ls-files) | while IFS= read -r f; do rm -f "$repo/$f"; done
(cd "$src" && git ls-files -co --exclude-standard) | while IFS= read -r f; do
    if [ -f "$src/$f" ] || [ -L "$src/$f" ]; then
        mkdir -p "$repo/$(dirname "$f")"
        cp -P -p "$src/$f" "$repo/$f"
    fi
done

# From here on git sees none of the user's configuration (signing, hooks, aliases): identity
# comes from the environment, and one check below runs with none at all.
export HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/.config" GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE CLIENT_MODE 2>/dev/null || true
export GIT_AUTHOR_NAME="tp0 test" GIT_AUTHOR_EMAIL="test@tp0.invalid"
export GIT_COMMITTER_NAME="tp0 test" GIT_COMMITTER_EMAIL="test@tp0.invalid"

git -C "$repo" add -A
if ! git -C "$repo" diff --cached --quiet; then
    git -C "$repo" commit -q -m "test: the working tree under test"
    echo "note: testing the working tree of $src (its uncommitted changes are committed in the clone)"
fi
base=$(git -C "$repo" rev-parse HEAD)

make_branches() {
    # $1: the clone, then make variables (FORCE=1); output in $scratch/out, status in $status.
    clone=$1
    shift
    status=0
    make --no-print-directory -s -C "$clone" exercise-branches "$@" >"$scratch/out" 2>&1 || status=$?
}
# check_refused <clone> <what> <regex of the reason>: a run fails, says why, moves no branch.
check_refused() {
    refs_before=$(refs_of "$1")
    make_branches "$1"
    if [ "$status" -ne 0 ] && grep -q "$3" "$scratch/out" && [ "$(refs_of "$1")" = "$refs_before" ]; then
        pass "$2 is refused, no branch changed"
    else
        fail "$2 is refused, no branch changed"
        sed 's/^/    /' "$scratch/out"
    fi
}
refs_of() {
    git -C "$1" for-each-ref --format='%(refname) %(objectname)' 'refs/heads/ej*'
}
count_lines() {
    # count_lines <extended regex> <file>
    grep -cE "$1" "$2" || true
}

# --- 1. two runs in a clone with local changes --------------------------------------------
echo "staged change" >>"$repo/README.md"
git -C "$repo" add README.md
echo "unstaged change" >>"$repo/README.md"
echo "untracked" >"$repo/untracked.txt"
state() {
    (
        cd "$repo"
        git symbolic-ref -q HEAD || echo detached
        git rev-parse HEAD
        git ls-files -s | cksum
        git diff | cksum
        git status --porcelain
        cksum <README.md
        cksum <untracked.txt
    )
}
before=$(state)

make_branches "$repo"
check "first run succeeds" [ "$status" -eq 0 ]
check "first run prints one 'created' line per branch" [ "$(count_lines '^ej[1-8]: created ' "$scratch/out")" -eq 8 ]
first_refs=$(refs_of "$repo")
make_branches "$repo"
check "second run succeeds" [ "$status" -eq 0 ]
check "second run leaves every branch as it is ('unchanged')" [ "$(count_lines '^ej[1-8]: unchanged ' "$scratch/out")" -eq 8 ]
check "second run points the branches at the same commits" [ "$(refs_of "$repo")" = "$first_refs" ]
[ "$status" -eq 0 ] || cat "$scratch/out"

after=$(state)
check "HEAD, index, working tree and untracked files of the clone untouched" [ "$before" = "$after" ]

n=1
while [ "$n" -le 8 ]; do
    b=ej$n
    if ! git -C "$repo" rev-parse -q --verify "refs/heads/$b" >/dev/null; then
        fail "$b exists"
        n=$((n + 1))
        continue
    fi
    check "$b is exactly one commit on the base" \
        [ "$(git -C "$repo" rev-list --parents -n 1 "$b")" = "$(git -C "$repo" rev-parse "$b") $base" ]
    changed=$(git -C "$repo" diff --name-only "$base" "$b")
    if [ -z "$changed" ] || [ "$changed" = generar-compose.sh ]; then
        pass "$b changes nothing but generar-compose.sh"
    else
        fail "$b changes nothing but generar-compose.sh (it changes: $(echo $changed))"
    fi
    git -C "$repo" show "$b:generar-compose.sh" >"$scratch/gen"
    if [ "$(count_lines '^[[:space:]]*default_exercise=' "$scratch/gen")" -eq 1 ] \
        && [ "$(count_lines "^default_exercise=$n\$" "$scratch/gen")" -eq 1 ]; then
        pass "$b's generar-compose.sh has one line default_exercise=$n and no other"
    else
        fail "$b's generar-compose.sh has one line default_exercise=$n and no other"
    fi
    git -C "$repo" diff "$base" "$b" -- generar-compose.sh | grep '^[-+][^-+]' >"$scratch/diff" || true
    check "$b's diff is that one line" [ "$(wc -l <"$scratch/diff")" -le 2 ]
    check "$b's commit message says what it is" \
        sh -c 'git -C "$1" log -1 --format=%s "$2" | grep -q "^$2: exercise $3 is the default (mode [a-z]*)$"' sh "$repo" "$b" "$n"
    n=$((n + 1))
done

# --- 2. the course's generator on each branch, in a clone of the clone -------------------
# Echo, bet and agency differ in what the file holds, not in how CLI_MODE is spelled (agency,
# the client's own default, may be left out): agency mounts .data/agency-N.csv at /agency.csv,
# bet sets NOMBRE=..., echo has neither and says CLI_MODE=echo.
content_mode() {
    if [ "$(count_lines '^[[:space:]]*-[[:space:]].*agency-[0-9]+\.csv:/agency\.csv' "$1")" -gt 0 ]; then
        echo agency
    elif [ "$(count_lines 'NOMBRE=' "$1")" -gt 0 ]; then
        echo bet
    elif [ "$(count_lines 'CLI_MODE=echo' "$1")" -gt 0 ]; then
        echo echo
    else
        echo none
    fi
}
header_mode() {
    sed -n 's/^# Generated by generar-compose\.sh:.* mode \([a-z]*\).*/\1/p' "$1" | head -n 1
}
expected_mode() {
    case $1 in
        1 | 2 | 3 | 4) echo echo ;;
        5) echo bet ;;
        *) echo agency ;;
    esac
}

# check_generated <label> <compose file> <expected mode>: 3 clients of that mode.
check_generated() {
    label=$1
    compose=$2
    want=$3
    got=$(content_mode "$compose")
    header=$(header_mode "$compose")
    ok=true
    [ "$got" = "$want" ] || ok=false
    [ "$header" = "$want" ] || ok=false
    [ "$(count_lines '^  client[0-9]+:$' "$compose")" -eq 3 ] || ok=false
    case $want in
        agency)
            i=1
            while [ "$i" -le 3 ]; do
                grep -q "\./\.data/agency-$i\.csv:/agency\.csv" "$compose" || ok=false
                i=$((i + 1))
            done
            ;;
        bet)
            for key in NOMBRE APELLIDO DOCUMENTO NACIMIENTO NUMERO; do
                [ "$(count_lines "$key=" "$compose")" -eq 3 ] || ok=false
            done
            ;;
        echo)
            [ "$(count_lines 'CLI_MODE=echo' "$compose")" -eq 3 ] || ok=false
            ;;
    esac
    if $ok; then
        pass "$label gives 3 $want clients"
    else
        fail "$label gives 3 $want clients (content: $got, header: '$header')"
        sed -n '1p; /^  client1:$/,/^$/p' "$compose" | sed 's/^/    /'   # the header and client1
    fi
}

grader=$scratch/grader
git clone -q "$repo" "$grader"
compose=$grader/docker-compose-dev.yaml
n=1
while [ "$n" -le 8 ]; do
    b=ej$n
    want=$(expected_mode "$n")
    if ! git -C "$grader" checkout -q "$b" 2>"$scratch/err"; then
        fail "$b: checkout in a fresh clone ($(cat "$scratch/err"))"
        n=$((n + 1))
        continue
    fi
    rm -f "$compose"
    if (cd "$grader" && unset CLIENT_MODE && bash generar-compose.sh docker-compose-dev.yaml 3) >"$scratch/err" 2>&1; then
        check_generated "$b: plain 'bash generar-compose.sh docker-compose-dev.yaml 3'" "$compose" "$want"
    else
        fail "$b: bash generar-compose.sh docker-compose-dev.yaml 3 ($(cat "$scratch/err"))"
    fi
    # The Makefile's way (what make docker-compose-up generates) follows the branch too.
    rm -f "$compose"
    if (unset CLIENT_MODE && make --no-print-directory -s -C "$grader" compose-file CLIENTS=3) >"$scratch/err" 2>&1; then
        check_generated "$b: make compose-file CLIENTS=3" "$compose" "$want"
    else
        fail "$b: make compose-file CLIENTS=3 ($(cat "$scratch/err"))"
    fi
    n=$((n + 1))
done

# --- 3. running it again from the grader's clone, on ej3 -----------------------------------
git -C "$grader" checkout -q ej3
make_branches "$grader"
if [ "$status" -eq 0 ] && [ "$(refs_of "$grader")" = "$first_refs" ] \
    && grep -q '^ej3: unchanged ' "$scratch/out"; then
    pass "on ej3, a run uses ej3's parent as the base and keeps all eight as they were"
else
    fail "on ej3, a run uses ej3's parent as the base and keeps all eight as they were"
fi
echo "a fix on ej3" >>"$grader/README.md"
git -C "$grader" commit -q -am "a fix made on ej3"
check_refused "$grader" "moving ej3 while it is checked out" 'ej3 is checked out'

# --- 4. a later commit, foreign branches, FORCE, a broken generator ------------------------
other=$scratch/other
git clone -q "$repo" "$other"
make_branches "$other"
git -C "$other" commit -q --allow-empty -m "a later commit"
make_branches "$other"
new_base=$(git -C "$other" rev-parse HEAD)
moved=0
for b in ej1 ej2 ej3 ej4 ej5 ej6 ej7 ej8; do
    [ "$(git -C "$other" rev-parse "$b^")" = "$new_base" ] && moved=$((moved + 1))
done
if [ "$status" -eq 0 ] && [ "$moved" -eq 8 ] && [ "$(count_lines '^ej[1-8]: moved ' "$scratch/out")" -eq 8 ]; then
    pass "after a new commit every branch moves onto it"
else
    fail "after a new commit every branch moves onto it"
fi

git -C "$other" branch -f ej2 HEAD
check_refused "$other" "moving an ej2 it did not make (it may hold work)" \
    'ej2 exists at .* not a commit made by make exercise-branches'
make_branches "$other" FORCE=1
if [ "$status" -eq 0 ] && [ "$(git -C "$other" rev-parse ej2^)" = "$new_base" ]; then
    pass "FORCE=1 moves it"
else
    fail "FORCE=1 moves it"
fi

# Commits the generator with sed script $1 applied.
commit_generator() {
    sed "$1" "$other/generar-compose.sh" >"$scratch/gen" && cp "$scratch/gen" "$other/generar-compose.sh"
    git -C "$other" commit -q -am "$2"
}
commit_generator '/^default_exercise=/p' "two default_exercise lines"
check_refused "$other" "a generator with two default_exercise= lines" "2 lines 'default_exercise='"
commit_generator '/default_exercise=/d' "no default_exercise line"
check_refused "$other" "a generator without a default_exercise= line" "has no line 'default_exercise=N'"

# --- 5. no git identity configured (a fresh CI machine) ------------------------------------
bare=$scratch/noident
git clone -q "$repo" "$bare"
status=0
(
    unset GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL EMAIL
    make --no-print-directory -s -C "$bare" exercise-branches
) >"$scratch/out" 2>&1 || status=$?
if [ "$status" -eq 0 ] && [ "$(git -C "$bare" log -1 --format=%ae ej1)" = exercise-branches@tp0.invalid ]; then
    pass "without a configured git identity it still commits (as the tool)"
else
    fail "without a configured git identity it still commits (as the tool)"
fi
[ "$status" -eq 0 ] || cat "$scratch/out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
