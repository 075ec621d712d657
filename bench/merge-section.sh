#!/bin/bash
# Puts a section into docs/benchmarks.md between its markers `<!-- NAME:begin -->` and
# `<!-- NAME:end -->`: in place of the old one, else before the closing part (`<!-- about:begin -->`),
# else at the end. Used by docker/round-report.sh and bench/micro-report.sh; the bench itself
# keeps both sections when it rewrites the report.
#
# Usage: bash bench/merge-section.sh REPORT NAME SECTION_FILE   (the file holds the markers too)
set -euo pipefail
report=$1 name=$2 section=$3
begin="<!-- $name:begin -->" end="<!-- $name:end -->"
tmp=$(mktemp)
if grep -qF "$begin" "$report"; then
    awk -v begin="$begin" -v end="$end" -v file="$section" '
        $0 == begin { while ((getline line < file) > 0) print line; skip = 1; next }
        $0 == end { skip = 0; next }
        !skip { print }' "$report" >"$tmp"
elif grep -qF '<!-- about:begin -->' "$report"; then
    awk -v file="$section" '
        $0 == "<!-- about:begin -->" && !done { while ((getline line < file) > 0) print line; print ""; done = 1 }
        { print }' "$report" >"$tmp"
else
    { cat "$report"; printf '\n'; cat "$section"; } >"$tmp"
fi
mv "$tmp" "$report"
