//! Formatting every section shares: numbers, Markdown tables, target verdicts and the report's
//! marked sections. Depends on nothing else of the bench.

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups = digits.as_bytes().rchunks(3).rev();
    let groups: Vec<&str> = groups
        .map(|g| std::str::from_utf8(g).unwrap_or(""))
        .collect();
    groups.join(",")
}

/// A number with `digits` decimals, or a dash.
pub fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// KiB as MiB with one decimal, or a dash.
pub fn mib(kb: Option<u64>) -> String {
    num(kb.map(|kb| kb as f64 / 1024.0), 1)
}

/// A ratio as `×3.8`, or a dash.
pub fn times(ratio: Option<f64>) -> String {
    ratio.map_or("—".into(), |x| format!("×{x:.1}"))
}

/// The median of some numbers.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (n > 0).then(|| (values[(n - 1) / 2] + values[n / 2]) / 2.0)
}

/// A Markdown table built column by column over its rows, so that a head, its alignment and its
/// cells are written in one place.
pub struct Table<'a, R> {
    rows: Vec<&'a R>,
    /// The heads, the alignment rules, then a line of cells per row.
    lines: Vec<Vec<String>>,
}

impl<'a, R> Table<'a, R> {
    /// A table of one line per row, no column yet.
    pub fn of(rows: impl IntoIterator<Item = &'a R>) -> Self {
        let rows: Vec<&R> = rows.into_iter().collect();
        let lines = vec![Vec::new(); rows.len() + 2];
        Table { rows, lines }
    }

    /// A left-aligned column (text).
    pub fn left(self, head: impl Into<String>, cell: impl Fn(&R) -> String) -> Self {
        self.column(head.into(), "---", cell)
    }

    /// A right-aligned column (figures).
    pub fn right(self, head: impl Into<String>, cell: impl Fn(&R) -> String) -> Self {
        self.column(head.into(), "---:", cell)
    }

    /// Adds a column.
    fn column(mut self, head: String, rule: &str, cell: impl Fn(&R) -> String) -> Self {
        let cells = [head, rule.into()].into_iter();
        let cells = cells.chain(self.rows.iter().map(|r| cell(r)));
        self.lines
            .iter_mut()
            .zip(cells)
            .for_each(|(line, c)| line.push(c));
        self
    }

    /// The Markdown: the heads, the alignment rule, a line per row.
    pub fn markdown(&self) -> String {
        let line = |(i, cells): (usize, &Vec<String>)| match i {
            1 => format!("|{}|\n", cells.join("|")),
            _ => format!("| {} |\n", cells.join(" | ")),
        };
        self.lines.iter().enumerate().map(line).collect()
    }
}

/// `template` with each `{key}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let fill =
        |text: String, (key, value): &(&str, String)| text.replace(&format!("{{{key}}}"), value);
    values.iter().fold(template.to_string(), fill)
}

/// Verdict of one target: PASS, MISS or SKIPPED, and what was asked and measured.
pub struct Target(pub &'static str, pub String);

impl Target {
    /// PASS if `ok`, else MISS.
    pub fn check(ok: bool, text: String) -> Target {
        Target(if ok { "PASS" } else { "MISS" }, text)
    }

    /// Not measured.
    pub fn skipped(what: &str, why: &str) -> Target {
        Target("SKIPPED", format!("{what}: {why}"))
    }
}

/// The targets as a Markdown list.
pub fn targets(list: &[Target]) -> String {
    list.iter()
        .map(|t| format!("- **{}** — {}\n", t.0, t.1))
        .collect()
}

/// The markers around the section `name` of the report.
fn markers(name: &str) -> [String; 2] {
    ["begin", "end"].map(|mark| format!("<!-- {name}:{mark} -->"))
}

/// The section `name` of `report`, markers included, with its line break.
pub fn section_of<'a>(report: &'a str, name: &str) -> Option<&'a str> {
    let [begin, end] = markers(name);
    let b = report.find(&begin)?;
    let e = report[b..].find(&end)? + b + end.len();
    Some(&report[b..(e + 1).min(report.len())])
}

/// `body` between the markers of `name`.
pub fn marked(name: &str, body: &str) -> String {
    let [begin, end] = markers(name);
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
    fn numbers_tables_and_sections() {
        assert_eq!([thousands(1_573_940), thousands(12)], ["1,573,940", "12"]);
        let medians = [vec![3.0, 1.0, 2.0], vec![4.0, 1.0, 2.0, 3.0]].map(median);
        assert_eq!(medians, [Some(2.0), Some(2.5)]);
        let rows = Table::of(&[("x", 1)]).left("a", |r| r.0.into());
        let t = rows.right("b", |r| r.1.to_string()).markdown();
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
