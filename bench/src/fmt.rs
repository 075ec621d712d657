//! Formatting every section shares: numbers, Markdown tables, target verdicts and the report's
//! marked sections. Depends on nothing else of the bench.

use std::fmt::Write as _;

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB as MiB with one decimal, or a dash.
pub fn mib(kb: Option<u64>) -> String {
    kb.map_or("—".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

/// A number with `digits` decimals, or a dash.
pub fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// A ratio as `×3.8`, or a dash.
pub fn times(ratio: Option<f64>) -> String {
    ratio.map_or("—".into(), |x| format!("×{x:.1}"))
}

/// The median of some numbers.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// A Markdown table: `heads` the column names between `|`, `align` one letter per column, `l`
/// or `r`.
pub fn table(heads: &str, align: &str, rows: &[Vec<String>]) -> String {
    let line = |cells: &mut dyn Iterator<Item = String>| {
        format!("| {} |\n", cells.collect::<Vec<_>>().join(" | "))
    };
    let mut out = line(&mut heads.split('|').map(str::to_string));
    let rule: Vec<&str> = align
        .chars()
        .map(|a| if a == 'r' { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
    out
}

/// Verdict of one target: what was asked and what was measured.
pub struct Target {
    /// PASS, MISS or SKIPPED.
    pub verdict: &'static str,
    /// What was asked and what was measured.
    pub text: String,
}

impl Target {
    /// PASS if `ok`, else MISS.
    pub fn check(ok: bool, text: String) -> Target {
        let verdict = if ok { "PASS" } else { "MISS" };
        Target { verdict, text }
    }

    /// Not measured.
    pub fn skipped(what: &str, why: &str) -> Target {
        Target {
            verdict: "SKIPPED",
            text: format!("{what}: {why}"),
        }
    }
}

/// The targets as a Markdown list, and as console lines.
pub fn targets(list: &[Target]) -> (String, String) {
    let (mut md, mut text) = (String::new(), String::new());
    for t in list {
        let _ = writeln!(md, "- **{}** — {}", t.verdict, t.text);
        let _ = writeln!(text, "{:<7} {}", t.verdict, t.text);
    }
    (md, text)
}

/// The markers around the section `name` of the report.
fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    )
}

/// The section `name` of `report`, markers included, with its line break.
pub fn section_of<'a>(report: &'a str, name: &str) -> Option<&'a str> {
    let (begin, end) = markers(name);
    let b = report.find(&begin)?;
    let e = report[b..].find(&end)? + b + end.len();
    Some(&report[b..(e + 1).min(report.len())])
}

/// `body` between the markers of `name`.
pub fn marked(name: &str, body: &str) -> String {
    let (begin, end) = markers(name);
    format!("{begin}\n{}\n{end}\n", body.trim_end())
}

/// `report` with its section `name` replaced by `body`, or, when it has none, `body` added
/// before the section `before` (if present), else at the end.
pub fn merge_section(report: &str, name: &str, body: &str, before: &str) -> String {
    let new = marked(name, body);
    if let Some(old) = section_of(report, name) {
        return report.replacen(old, &new, 1);
    }
    match section_of(report, before).and_then(|s| report.find(s)) {
        Some(at) => format!("{}{new}\n{}", &report[..at], &report[at..]),
        None => format!("{}\n\n{new}", report.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(1_573_940), "1,573,940");
        assert_eq!((thousands(12), thousands(0)), ("12".into(), "0".into()));
        assert_eq!((mib(Some(2048)), mib(None)), ("2.0".into(), "—".into()));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(times(Some(3.84)), "×3.8");
    }

    #[test]
    fn tables_and_sections() {
        let t = table("a|b", "lr", &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---:|\n| x | 1 |\n");
        let report = "# B\n\n<!-- about:begin -->\nabout\n<!-- about:end -->\n";
        let merged = merge_section(report, "x", "new", "about");
        assert!(merged.find("new") < merged.find("about\n"));
        let again = merge_section(&merged, "x", "newer", "about");
        assert_eq!(again, merged.replace("new\n", "newer\n"));
        assert_eq!(
            section_of(&again, "x"),
            Some("<!-- x:begin -->\nnewer\n<!-- x:end -->\n")
        );
        assert!(merge_section("# B\n", "x", "y", "about").ends_with("<!-- x:end -->\n"));
    }
}
