#!/bin/sh
# Writes random per-agency secrets for `SECRETS_DIR`: <dir>/secrets (agency=secret lines, for the
# server) and <dir>/agency-N.secret (one secret each, for client N). Existing files are kept, so
# restarting does not lock anybody out.
#
# Usage: make-secrets.sh <dir> <agencies>
set -eu
[ "$#" -eq 2 ] || { echo "usage: $0 <dir> <agencies>" >&2; exit 2; }
dir=$1
agencies=$2
case $agencies in '' | *[!0-9]*) echo "$0: agencies must be a whole number" >&2; exit 2 ;; esac
mkdir -p "$dir"
umask 077
i=1
while [ "$i" -le "$agencies" ]; do
    file="$dir/agency-$i.secret"
    if [ ! -s "$file" ]; then
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$file"
    fi
    i=$((i + 1))
done
tmp="$dir/secrets.tmp.$$"
i=1
while [ "$i" -le "$agencies" ]; do
    printf '%s=%s\n' "$i" "$(cat "$dir/agency-$i.secret")"
    i=$((i + 1))
done >"$tmp"
mv "$tmp" "$dir/secrets"
echo "make-secrets: $agencies secret(s) in $dir"
