#!/bin/bash
# The micro-benchmarks section of docs/benchmarks.md: `cargo bench -p tp0 --bench hot_paths`
# (benches/hot_paths.rs, divan) as it prints, with the row split beside memchr over
# the same rows, the machine and the load. Replaces the section between its markers.
#
# Usage: bash bench/micro-report.sh        (make bench-micro)
set -euo pipefail
cd "$(dirname "$0")/.."
report=docs/benchmarks.md
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
out=$(cargo bench -q -p tp0 --bench hot_paths 2>/dev/null)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# The median column (the third) of a benchmark's line, e.g. `31.61 µs`.
median() { grep -F "$1 " <<<"$out" | head -1 | awk -F'│' '{ gsub(/^ +| +$/, "", $3); print $3 }'; }
split=$(median split_rows) memchr=$(median split_rows_memchr)
section=$(mktemp)
trap 'rm -f "$section"' EXIT
cat >"$section" <<MD
<!-- micro:begin -->
## Micro-benchmarks

The functions whose comments make speed claims, alone, on one core: \`cargo bench -p tp0\`
(\`benches/hot_paths.rs\`, [divan](https://docs.rs/divan)); times per call, the fastest, slowest, median and
mean of 100 samples. \`split_rows_*\`: 1,000 rows of the course's shape (45 to 55 bytes, CRLF, some accents)
split into fields, by \`tp0::rows::Row::split\` (sixteen bytes classified at once, SSE2) and, for comparison,
by \`memchr3\` over the same bytes finding the same separators (\`,\`, \`\\n\`, \`"\`) without building a row:
median $split with Row::split against $memchr with memchr. \`validate_bet\`: \`Bet::validate\` of one row's fields;
\`decode_batch_of_120\`: \`protocol::decode\` of a frame of 120 bets; \`append_one_row\`:
\`storage::PendingRows::push\` of one validated bet into the session's batch buffer; \`receipt_of_1000_bets\`:
\`domain::ReceiptBuilder\` over 1,000 bets and its digest (SHA-256 of about 68 kB of canonical encodings).

\`\`\`text
$out
\`\`\`

Measured $(date -u '+%Y-%m-%d %H:%M UTC') at commit $(git rev-parse --short HEAD); load average (1/5/15 min)
$load_start at the start, $load_end at the end (a shared machine: a loaded one makes the slowest and the mean
noisy, the fastest and the median much less). Command: \`make bench-micro\` (this section), or
\`cargo bench -p tp0\` alone.
<!-- micro:end -->
MD
bash bench/merge-section.sh "$report" micro "$section"
printf '%s\n' "$out"
echo "wrote the micro-benchmarks section of $report"
