//! JUnit XML, in the shape CI systems (Jenkins, GitLab, GitHub actions
//! that publish test results) read: one `<testsuite>` in `<testsuites>`,
//! one `<testcase>` per test file, `<failure>` for a failed step,
//! `<error>` for a test that could not run, the UART output in
//! `<system-out>`.

use super::exec::{Outcome, TestReport};
use std::fmt::Write as _;
use std::time::Duration;

/// `s` as XML 1.0 character data or attribute text: markup characters
/// escaped, characters XML 1.0 cannot carry (most C0 controls, such as a
/// guest's ESC sequences) replaced by U+FFFD, and `\r` kept as a
/// character reference (a parser would turn a literal one into `\n`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{fffe}' | '\u{ffff}') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The report of a suite run as JUnit XML. `suite` names the
/// `<testsuite>` (e.g. `preboard` or `preboard shard 2/4`).
pub fn junit_xml(suite: &str, reports: &[TestReport], total: Duration) -> String {
    let failures = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    let errors = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count();
    let secs = total.as_secs_f64();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = escape(suite);
    let n = reports.len();
    let _ = writeln!(
        x,
        "<testsuites name=\"{suite}\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{secs:.3}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{suite}\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{secs:.3}\">"
    );
    for r in reports {
        let file = r.path.display().to_string();
        // classname: the file's directory, dotted, as JUnit's package.
        let classname = r
            .path
            .parent()
            .map(|p| p.display().to_string().replace(['/', '\\'], "."))
            .filter(|s| !s.is_empty() && s != ".")
            .unwrap_or_else(|| "preboard".into());
        let name = match r.engine {
            Some(e) => format!("{} ({e})", r.name),
            None => r.name.clone(),
        };
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" time=\"{:.3}\"",
            escape(&name),
            escape(classname.trim_start_matches('.')),
            escape(&file),
            r.duration.as_secs_f64()
        );
        let body = match &r.outcome {
            Outcome::Passed => String::new(),
            Outcome::Failed(f) => format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                escape(&format!("step {} {}: {}", f.step + 1, f.step_text, f.message)),
                escape(f.step_text.split('(').next().unwrap_or("step")),
                escape(&r.render())
            ),
            Outcome::Error(e) => format!(
                "      <error message=\"{}\" type=\"error\">{}</error>\n",
                escape(e),
                escape(&r.render())
            ),
        };
        let mut out = String::new();
        for (uart, text) in &r.output {
            let _ = write!(out, "=== {uart} ===\n{text}");
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        if body.is_empty() && out.is_empty() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        x.push_str(&body);
        if !out.is_empty() {
            let _ = writeln!(x, "      <system-out>{}</system-out>", escape(&out));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_cannot_carry() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\r\n\t\u{1b}[0m"), "x&#13;\n\t\u{fffd}[0m");
        assert_eq!(escape("µ ok"), "µ ok");
    }
}
