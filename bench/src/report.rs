//! `docs/benchmarks.md` as a whole: its opening and headline table, the sections between their
//! markers (in the order `main` runs them; the micro-benchmarks' and the Docker round's kept
//! from the previous report), and its closing part (correctness, notes, machine, command: the
//! template `report.md`).

use std::time::Duration;

use crate::fmt::{fill, marked, merge_section, section_of};
use crate::harness::machine::Machine;
use crate::sections::Headline;

/// The headline section: the old report's rows, each replaced by a new row of the same figure,
/// then the new figures.
fn headline(old: &str, new: &[Headline]) -> String {
    let figure = |line: &str| line.split(" | ").next().unwrap_or_default().to_string();
    let old = section_of(old, "headline").unwrap_or_default().lines();
    let old = old.filter(|l| l.starts_with("| ") && !l.starts_with("| Figure |"));
    let mut rows: Vec<String> = old.map(|l| format!("{l}\n")).collect();
    for row in new.iter().map(|row| format!("| {} |\n", row.join(" | "))) {
        match rows.iter_mut().find(|r| figure(r) == figure(&row)) {
            Some(old) => *old = row,
            None => rows.push(row),
        }
    }
    fill(include_str!("headline.md"), &[("rows", rows.concat())])
}

/// The closing part: how runs are checked, the notes, the machine, the command.
pub fn about(m: &Machine, passed: bool, notes: &[String], took: Duration, names: &str) -> String {
    let busy = m.busy().map(|peak| {
        let (peak, n) = (format!("{peak:.1}"), m.nproc.to_string());
        fill(include_str!("busy.md"), &[("peak", peak), ("nproc", n)])
    });
    let notes = notes.iter().chain(&busy);
    let notes = notes.map(|n| format!("- {n}\n")).collect();
    let passed = match passed {
        true => "All runs passed.",
        false => "Some runs FAILED: each section lists them.",
    };
    // `names` is empty in a quick run.
    let command = match names {
        "" => "make bench-quick\n".into(),
        _ => fill(include_str!("command.md"), &[("names", names.into())]),
    };
    let values = [
        ("passed", passed.into()),
        ("notes", notes),
        ("nproc", m.nproc.to_string()),
        ("cpu", m.cpu.clone()),
        ("memory", m.memory.clone()),
        ("kernel", m.kernel.clone()),
        ("date", m.date.clone()),
        ("commit", m.commit.clone()),
        ("load_start", m.load_start.clone()),
        ("load_end", m.load_end.clone()),
        ("elapsed", format!("{:.0}", took.as_secs_f64())),
        ("command", command),
    ];
    fill(include_str!("report.md"), &values)
}

/// The new report. With every section run (`all`), a fresh one that keeps only the micro-
/// benchmarks' and the Docker round's sections of `old`; else `old` with the sections run and
/// their headline rows replaced.
pub fn write(
    old: &str,
    all: bool,
    quick: bool,
    sections: &[(&str, String)],
    new: &[Headline],
    about: &str,
) -> String {
    let md = if all {
        let mut md = String::from(include_str!("opening.md"));
        if quick {
            md += include_str!("quick.md");
        }
        md += &format!("\n{}", marked("headline", ""));
        for (name, body) in sections {
            md += &format!("\n{}", marked(name, body));
        }
        let kept = ["micro", "docker"].map(|name| section_of(old, name));
        for kept in kept.into_iter().flatten() {
            md += &format!("\n{kept}");
        }
        format!("{md}\n{}", marked("about", about))
    } else {
        let merge =
            |md: String, (name, body): &(&str, String)| merge_section(&md, name, body, "about");
        sections.iter().fold(old.to_string(), merge)
    };
    merge_section(&md, "headline", &headline(old, new), "about")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_section_alone_keeps_the_rest_and_the_other_headline_rows() {
        let row = |a: &str, b: &str| [a, b, "1", "×2", "t"].map(String::from);
        let docker = super::marked("docker", "D");
        let sections = [("loopback", "L1".to_string()), ("far", "F1".to_string())];
        let full = super::write(
            &docker,
            true,
            false,
            &sections,
            &[row("a", "1"), row("b", "2")],
            "A",
        );
        assert!(
            full.contains("L1") && full.contains(&docker) && full.find("F1") < full.find("\nA\n")
        );
        let (sections, headline) = ([("far", "F2".to_string())], [row("b", "3"), row("c", "4")]);
        let again = super::write(&full, false, false, &sections, &headline, "A");
        assert!(again.contains("L1") && again.contains("F2") && !again.contains("F1"));
        let rows = again
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains("| ×2 |"));
        let tp0: Vec<&str> = rows.filter_map(|l| l.split(" | ").nth(1)).collect();
        assert_eq!(tp0, ["1", "3", "4"]);
    }
}
