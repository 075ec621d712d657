//! The "Agencies far away" section's Markdown: its table, what the rows say, how the link is
//! emulated and its limits, the machine and the command, between the section's markers.

use std::fmt::Write as _;

use crate::far::{
    far_link, link_name, Mode, Row, BEGIN, CHART, END, FAR_RTT, MANY, RATE, SWEEP_MS,
};
use crate::link::BUFFER;
use crate::machine::Machine;
use crate::report::{merge_section, thousands};
use crate::scale;
use crate::summary::Status;

/// The section's table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Mode | Link | Data | Agencies | Bets | End to end (s) | Range (s) | Bets/s \
         | Speed-up (shipped over stop-and-wait) | Result |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let s = &row.summary;
        let _ = writeln!(
            out,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.mode.name(),
            row.mode.detail(),
            link_name(row.link),
            s.label,
            thousands(s.agencies as u64),
            thousands(s.bets),
            s.e2e().map_or("—".into(), |t| format!("{t:.3}")),
            match s.e2e_range() {
                Some((lo, hi)) if s.runs.len() > 1 => format!("{lo:.3}–{hi:.3}"),
                _ => "—".into(),
            },
            s.rate().map_or("—".into(), |r| thousands(r as u64)),
            match (row.mode, row.speed_up(rows)) {
                (Mode::Shipped, Some(x)) => format!("**×{x:.1}**"),
                (Mode::StopAndWait, Some(_)) => "(the baseline)".into(),
                (_, None) => "—".into(),
            },
            s.status_cell(),
        );
    }
    out
}

/// What the rows say, in sentences: the far round trip with the first data set (the course's)
/// and why each mode takes what it takes, loopback, and the many small agencies.
fn findings(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let far = Some(far_link(FAR_RTT.as_millis() as u64));
    let Some(first) = rows.first() else {
        return out;
    };
    let same_data = |r: &&Row| {
        r.summary.label == first.summary.label && r.summary.agencies == first.summary.agencies
    };
    let shipped_at = |link| {
        rows.iter()
            .filter(same_data)
            .find(|r| r.link == link && r.mode == Mode::Shipped)
    };
    if let Some(shipped) = shipped_at(far) {
        if let (Some(x), Some(ts), Some(tw)) = (
            shipped.speed_up(rows),
            shipped.summary.e2e(),
            shipped.partner(rows).and_then(|r| r.summary.e2e()),
        ) {
            out.push(format!(
                "**Behind links of {}, {} agencies sending {} bets ({}) take {ts:.2} s as \
                 shipped and {tw:.2} s stop-and-wait: shipped is {x:.1} times faster.**",
                link_name(far),
                shipped.summary.agencies,
                thousands(shipped.summary.bets),
                shipped.summary.label,
            ));
        }
        let rtt = FAR_RTT.as_secs_f64();
        let batches = shipped
            .largest
            .div_ceil(u64::from(Mode::StopAndWait.batch()));
        let mut saw: Vec<(f64, f64)> = rows
            .iter()
            .filter(same_data)
            .filter(|r| r.mode == Mode::StopAndWait && matches!(r.summary.status, Status::Pass))
            .filter_map(|r| Some((r.link?.rtt().as_secs_f64() * 1e3, r.summary.e2e()?)))
            .collect();
        saw.sort_by(|a, b| a.0.total_cmp(&b.0));
        let slope = match (saw.first(), saw.last()) {
            (Some(lo), Some(hi)) if hi.0 > lo.0 => format!(
                "; from {:.0} to {:.0} ms its time grows by {:.3} s per ms of round trip, the \
                 floor's by {:.3}",
                lo.0,
                hi.0,
                (hi.1 - lo.1) / (hi.0 - lo.0),
                batches as f64 / 1e3
            ),
            _ => String::new(),
        };
        out.push(format!(
            "Stop-and-wait pays at least one round trip per batch: the largest agency's {} bets \
             are {} batches of 100, {:.2} s at {} ms, before connecting, HELLO, END and the \
             winners query add a round trip each{slope}.",
            thousands(shipped.largest),
            thousands(batches),
            batches as f64 * rtt,
            FAR_RTT.as_millis(),
        ));
        let per_bet = shipped.largest_bytes as f64 / shipped.largest.max(1) as f64;
        out.push(format!(
            "As shipped, 64 batches of 120 (about {:.0} kB, at the {per_bet:.0} bytes per bet of \
             this data's files) may be in the air, more than the {:.0} kB the link holds in flight \
             (rate × round trip), so the rate bounds it: the largest agency's file, {:.2} MB, \
             takes {:.2} s at {} MB/s, plus a few round trips.",
            64.0 * f64::from(Mode::Shipped.batch()) * per_bet / 1e3,
            RATE as f64 * rtt / 1e3,
            shipped.largest_bytes as f64 / 1e6,
            shipped.largest_bytes as f64 / RATE as f64,
            RATE as f64 / 1e6,
        ));
    }
    if let Some(x) = shipped_at(None).and_then(|r| r.speed_up(rows)) {
        out.push(format!(
            "Even on loopback, without the emulator, stop-and-wait takes {x:.1} times as long: \
             each batch waits for its acknowledgement, which the durable server sends only after \
             `fdatasync`."
        ));
    }
    let many = rows
        .iter()
        .find(|r| r.mode == Mode::Shipped && r.summary.agencies == MANY.0 as usize);
    if let Some((many, x)) = many.and_then(|r| Some((r, r.speed_up(rows)?))) {
        out.push(format!(
            "With {} agencies of {} bets ({} batches of 100 each) at {}, shipped is {x:.1} times \
             faster: there is little to pipeline, and the round trips both modes pay (connecting, \
             HELLO, END, the winners) weigh more.",
            many.summary.agencies,
            thousands(many.largest),
            many.largest.div_ceil(u64::from(Mode::StopAndWait.batch())),
            link_name(many.link),
        ));
    }
    out
}

/// The whole section, markers included; `load` is the 1/5/15-minute load average at its start,
/// `machine` probed at its end, `runs` the runs per configuration.
pub(crate) fn section(
    rows: &[Row],
    machine: &Machine,
    load_start: &str,
    runs: usize,
    quick: bool,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    md.push_str("## Agencies far away\n\n");
    if quick {
        md.push_str(
            "**Quick smoke run (`--quick`): small data, one run each; not the benchmark.**\n\n",
        );
    }
    let sweep: Vec<String> = SWEEP_MS.iter().map(u64::to_string).collect();
    let _ = writeln!(
        md,
        "Each agency behind its own long-distance link, emulated in user space by the bench (this \
         machine's kernel has no `netem`; see The link below), and the same data sent two ways in \
         the same run: **tp0 as shipped** (the client's defaults: batches of 120, up to 64 of \
         them in flight) and **stop-and-wait** (`CLI_BATCH_MAXAMOUNT=100 CLI_BATCH_WINDOW=1`: \
         one batch of 100 in flight, the next sent only once the server has acknowledged the \
         last, as the statement's protocols do). The server is the shipped one (told only \
         `SERVER_PORT=0`, `AGENCIES` and `BETS_FILE`: `SYNC=true`, default logs). {} \
         {}Speed-up = stop-and-wait's median time / shipped's, same data and link. Every run is \
         checked as in Correctness above. No target: this section reports.\n",
        if quick {
            "Five agencies of 1,000 generated bets, on loopback and far away.".to_string()
        } else {
            format!(
                "The course dataset runs behind links of {} MB/s each way at round trips of {} \
                 ms, and straight to the server on loopback (no emulator); {} agencies of {} \
                 generated bets run at {} ms.",
                RATE as f64 / 1e6,
                sweep.join(", "),
                MANY.0,
                thousands(MANY.1),
                FAR_RTT.as_millis()
            )
        },
        if runs > 1 {
            format!(
                "Each configuration ran {runs} times: medians, Range the fastest and slowest run. "
            )
        } else {
            "Each configuration ran once. ".into()
        }
    );
    let findings = findings(rows);
    if !findings.is_empty() {
        let _ = writeln!(md, "{}\n", findings.join(" "));
    }
    md.push_str(&table(rows));
    let _ = writeln!(
        md,
        "\n![End to end against the round trip, shipped and stop-and-wait]({CHART})\n"
    );
    for row in rows {
        if let Some(reasons) = row.summary.status.failure_text() {
            let _ = writeln!(
                md,
                "- FAILED: {}, {}, {}: {}",
                row.summary.label,
                link_name(row.link),
                row.mode.name(),
                reasons
            );
        }
    }
    let _ = writeln!(
        md,
        "**The link** (`bench/src/link.rs`): one TCP proxy per agency on 127.0.0.1, whose port \
         the client is given as `CLI_SERVER_ADDRESS`. For each connection it accepts it opens one \
         to the server and forwards both directions, each through a queue between two threads: \
         a reader stamps every chunk it reads with its release time, a writer sleeps until then \
         and writes it on. Bytes read at time t leave no earlier than t + half the round trip, \
         once a serialization clock (one per direction and link) has let them out at the rate, \
         in order; the queue holds what the link has in flight (rate × one-way delay) plus {} \
         KiB, beyond which the sender waits, as behind a bottleneck's full buffer. A half-close \
         (the client's EOF after END, the server's close) crosses after the last byte and is \
         delayed like it; an error on either side shuts both connections down. A connection's \
         first bytes wait one round trip more, standing in for the TCP handshake that costs \
         nothing on loopback. Its limits: it is user space, so its timing rides on the bench's \
         threads being scheduled (a sleep overshoots by tens of µs, more on a loaded machine); \
         it has no loss, no jitter and no reordering, so TCP never backs off; both kernels' \
         loopback socket buffers come on top of the emulated link's queue. Its unit tests check \
         the round trip (≥ 2 × the one-way delay per ping-pong), the rate (N bytes take ≥ N / \
         rate), byte-exact order both ways under backpressure, and EOF in both directions.\n",
        BUFFER / 1024
    );
    let _ = writeln!(
        md,
        "Machine: {}. Measured {} at commit {}; load average (1/5/15 min) {load_start} at the \
         start of the section, {} at its end.\n",
        machine.line(),
        machine.date,
        machine.commit,
        machine.load_end,
    );
    if let Some(peak) = machine.busy() {
        let _ = writeln!(
            md,
            "The 1-minute load average reached {peak:.1} on {} CPUs around this section. It \
             trails by about a minute, so it may still hold the bench's own previous section; \
             where other work shared the CPUs, times here are slower and noisier than on an idle \
             machine, stop-and-wait most: the emulator's timing rides on its threads being \
             scheduled, and every round trip of stop-and-wait waits for a CPU several times.\n",
            machine.nproc
        );
    }
    md.push_str(if quick {
        "Command: `make bench-quick`.\n\n"
    } else {
        "Command: `make bench` (every section), or this section alone:\n\n```sh\nmake bench \
         BENCH_ARGS='--only far'\n```\n\n"
    });
    let _ = writeln!(md, "{END}");
    md
}

/// `report` with its far section replaced by `section` (or added after the agencies section,
/// or before `## Targets`, or at the end, when it has none).
pub(crate) fn merge(report: &str, section: &str) -> String {
    merge_section(report, section, (BEGIN, END), Some(scale::END))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::far::tests::sample_rows;

    #[test]
    fn the_section_says_what_the_rows_say() {
        let rows = sample_rows();
        let machine = Machine::probe(std::path::Path::new("."), "0.00 0.00 0.00".into());
        let md = section(&rows, &machine, "0.00 0.00 0.00", 3, false);
        if std::env::var_os("TP0_FAR_SECTION").is_some() {
            eprintln!("{md}");
        }
        assert!(md.starts_with(BEGIN) && md.trim_end().ends_with(END));
        assert!(md.contains(
            "5 agencies sending 78,697 bets (course) take 0.52 s as shipped and 14.46 s"
        ));
        assert!(md.contains("shipped is 27.8 times faster"));
        assert!(md.contains("are 270 batches of 100, 13.50 s at 50 ms"));
        assert!(md.contains("| **×27.8** |"));
        assert!(md.contains("make bench BENCH_ARGS='--only far'"));
        assert_eq!(md.matches("| PASS (3/3) |").count(), rows.len());
        // Once merged, the section is replaced in place, after the agencies section.
        let report = format!("# B\n\n{}\nx\n{}\n\n## Targets\n", scale::BEGIN, scale::END);
        let merged = merge(&report, &md);
        assert_eq!(merge(&merged, &md), merged);
        assert!(merged.find(scale::END) < merged.find(BEGIN));
        assert!(merged.find(END) < merged.find("## Targets"));
    }
}
