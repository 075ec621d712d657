# The disk-full fault of docker/faults.sh (sourced by it, not run): the server's /data is a tmpfs
# volume a filler file leaves room in for about half the round. Uploads hit ENOSPC: the server
# must say so, acknowledge nothing it did not store, and finish the round once the filler is gone.
# shellcheck shell=bash

section "$SCENARIO: the server's /data a small tmpfs, filled mid-round, then freed"
data_k=$(( ($(cat "$WORK"/data/agency-*.csv | wc -c) + 2 * TOTAL_ROWS) / 1024 + 1 ))
size_k=$((data_k + 2048))
filler_k=$((size_k - data_k / 2))
generate "${size_k}k" || die "generar-compose.sh failed"
compose up --no-start >>"$WORK/compose.log" 2>&1
docker run -d --name "${PREFIX}filler" --network none -v "${PROJECT}_bets:/data" --entrypoint sh "$NETCAT_IMAGE" \
    -c "dd if=/dev/zero of=/data/filler bs=1024 count=$filler_k 2>/dev/null; touch /data/filled; exec sleep 3600" >/dev/null
filled() { docker exec "${PREFIX}filler" test -f /data/filled; }
check "$SCENARIO: a ${filler_k} KiB filler in the ${size_k} KiB tmpfs leaves room for about half the ${data_k} KiB of bets" \
    wait_for 30 filled
check "$SCENARIO: compose up" up
NOSPACE='No space left on device|os error 28'
check "$SCENARIO: the server logs the full disk as a failed store" wait_log 90 "result: fail .*($NOSPACE)" 1 "$SERVER"
sleep 3
# Acknowledged counts first, then the file: whatever a client was told is stored must be there.
acked=()
for ((i = 1; i <= AGENCIES; i++)); do acked[i]=$(acked_rows "$i"); done
docker exec "${PREFIX}filler" cat /data/bets.csv >"$WORK/full.csv"
complete=$(tr -cd '\n' <"$WORK/full.csv" | wc -c)
head -n "$complete" "$WORK/full.csv" >"$WORK/full-complete.csv"
short=0
for ((i = 1; i <= AGENCIES; i++)); do
    stored=$(grep -ac "^$i," "$WORK/full-complete.csv")
    if [ "${acked[i]}" -gt "$stored" ] \
        || ! cmp -s <(stored_rows_of "$WORK/full-complete.csv" "$i") <(head -n "$stored" "$WORK/data/agency-$i.csv"); then
        short=1
    fi
    info "agency $i while the disk is full: ${acked[i]} bets acknowledged, $stored stored"
done
check "$SCENARIO: nothing acknowledged that is not stored; what is stored is each file's beginning" test "$short" -eq 0
told=$(for name in $(client_names); do logs_of "$name"; done | grep -cE "reconnect .*($NOSPACE)")
check "$SCENARIO: the clients are told why ($told reconnects citing the full disk) and keep retrying" test "$told" -ge 1
docker exec "${PREFIX}filler" rm -f /data/filler
info "filler deleted: $(docker exec "${PREFIX}filler" df -k /data | tail -n 1)"
finish "$SCENARIO" "${PREFIX}filler"
row "the bets volume fills up mid-round" "server /data on a ${size_k} KiB tmpfs with a filler leaving room for half the bets; the filler deleted once uploads fail" \
    "stores fail with 'No space left on device' logged and sent to the clients as Unavailable; no acknowledged bet missing; the clients retry and the round completes once space is freed; one draw" "nothing"
teardown
