//! `scan -o junit`: JUnit XML as CI systems read it. One `<testsuite>` per scanner, one
//! `<testcase>` per check (a reason, as in SARIF), one `<failure>` per finding. A scanner that
//! failed turns its checks into `<error>`s; API discovery is its own suite, with one `<error>` per
//! group/version that failed; other partial-data notes go to the suite's `<system-err>`.

use std::fmt::Write;

use super::{checks, findings, partial_data_notes, Finding};
use crate::findings::Report;
use crate::scanners::{namespaces, owner_references};

/// What the scan was asked to check beyond the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checked {
    /// `--stuck-objects`: without it, the `StuckObject` check is reported as skipped.
    pub stuck_objects: bool,
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

struct Case {
    name: &'static str,
    failures: Vec<Finding>,
    errors: Vec<String>,
    skipped: Option<&'static str>,
}

struct Suite {
    name: &'static str,
    cases: Vec<Case>,
    system_err: Vec<String>,
}

impl Suite {
    fn count(&self, f: impl Fn(&Case) -> usize) -> usize {
        self.cases.iter().map(f).sum()
    }

    fn write(&self, out: &mut String, timestamp: &str) {
        let _ = writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="0" timestamp="{}">"#,
            self.name,
            self.cases.len(),
            self.count(|c| usize::from(!c.failures.is_empty())),
            self.count(|c| usize::from(c.failures.is_empty() && !c.errors.is_empty())),
            self.count(|c| usize::from(c.skipped.is_some())),
            xml(timestamp.trim_end_matches('Z')),
        );
        for case in &self.cases {
            let open = format!(
                r#"    <testcase classname="kube-garbage-audit.{}" name="{}" time="0""#,
                self.name, case.name
            );
            if case.failures.is_empty() && case.errors.is_empty() && case.skipped.is_none() {
                let _ = writeln!(out, "{open}/>");
                continue;
            }
            let _ = writeln!(out, "{open}>");
            if let Some(why) = case.skipped {
                let _ = writeln!(out, r#"      <skipped message="{}"/>"#, xml(why));
            }
            for f in &case.failures {
                let _ = writeln!(
                    out,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    f.check.id,
                    xml(&f.location.display),
                    xml(&failure_text(f))
                );
            }
            for e in &case.errors {
                let _ = writeln!(out, r#"      <error type="ScanFailed" message="{}"/>"#, xml(e));
            }
            let _ = writeln!(out, "    </testcase>");
        }
        if !self.system_err.is_empty() {
            let _ = writeln!(out, "    <system-err>{}</system-err>", xml(&self.system_err.join("\n")));
        }
        let _ = writeln!(out, "  </testsuite>");
    }
}

fn failure_text(f: &Finding) -> String {
    let mut text = format!("{}\nobject: /{} (uid {})", f.message, f.location.uri, f.location.uid);
    for (loc, why) in &f.related {
        let _ = write!(text, "\n  {}: {why}", loc.display);
    }
    text
}

/// The JUnit XML document for `report`.
pub fn render(report: &Report, checked: Checked) -> String {
    let mut found = findings(report);
    let notes = partial_data_notes(report);
    let mut suites: Vec<Suite> = [owner_references::NAME, namespaces::NAME]
        .into_iter()
        .map(|scanner| {
            let failed = report
                .scanners
                .iter()
                .find(|s| s.name == scanner)
                .and_then(|s| s.last_error.as_ref())
                .map(|e| format!("the {scanner} scanner failed: {e}"));
            let cases = checks()
                .into_iter()
                .filter(|c| c.scanner == scanner)
                .map(|c| {
                    let (mine, rest): (Vec<Finding>, Vec<Finding>) = found.drain(..).partition(|f| f.check.id == c.id);
                    found = rest;
                    let skipped = (c.id == super::STUCK_OBJECT && !checked.stuck_objects)
                        .then_some("not checked: run with --stuck-objects");
                    Case {
                        name: c.id,
                        failures: mine,
                        errors: failed.iter().cloned().collect(),
                        skipped: if failed.is_some() { None } else { skipped },
                    }
                })
                .collect();
            Suite {
                name: scanner,
                cases,
                system_err: notes
                    .iter()
                    .filter(|(s, _)| *s == Some(scanner))
                    .map(|(_, t)| t.clone())
                    .collect(),
            }
        })
        .collect();
    suites.push(Suite {
        name: "discovery",
        cases: vec![Case {
            name: "ApiDiscovery",
            failures: vec![],
            errors: notes
                .iter()
                .filter(|(s, _)| s.is_none())
                .map(|(_, t)| t.clone())
                .collect(),
            skipped: None,
        }],
        system_err: vec![],
    });

    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.count(|c| usize::from(!c.failures.is_empty())))
        .sum();
    let errors: usize = suites
        .iter()
        .map(|s| s.count(|c| usize::from(c.failures.is_empty() && !c.errors.is_empty())))
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="kube-garbage-audit" tests="{tests}" failures="{failures}" errors="{errors}" time="0">"#
    );
    for s in &suites {
        s.write(&mut out, &report.generated_at);
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_formats::tests::{report, status};

    /// The text of testcase `name`, up to the next testcase or the end of its suite.
    fn case<'a>(xml: &'a str, name: &str) -> &'a str {
        let start = xml
            .find(&format!(r#"name="{name}" time"#))
            .unwrap_or_else(|| panic!("no testcase {name}"));
        let rest = &xml[start..];
        let end = ["<testcase ", "</testsuite>"]
            .iter()
            .filter_map(|m| rest.find(m))
            .min()
            .unwrap_or(rest.len());
        &rest[..end]
    }

    #[test]
    fn one_case_per_check_one_failure_per_finding() {
        let xml = render(&report(), Checked::default());
        assert!(xml.starts_with("<?xml"));
        assert!(
            xml.contains(r#"<testsuites name="kube-garbage-audit" tests="21" failures="3" errors="0""#),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 21);
        assert_eq!(xml.matches("<failure ").count(), 3);
        assert!(case(&xml, "KindCaseMismatch").contains(
            r#"<failure type="KindCaseMismatch" message="llm/horizontalpodautoscalers.autoscaling/mistral-7b-hpa">"#
        ));
        assert!(case(&xml, "GroupNotServed").ends_with("time=\"0\"/>\n    "));
        assert!(case(&xml, "FinalizersRemaining")
            .contains("modeladapters.model.aibrix.ai/qwen-code-lora: waiting on finalizer"));
        assert!(case(&xml, "StuckObject").contains("<skipped message=\"not checked: run with --stuck-objects\"/>"));
        assert!(!render(&report(), Checked { stuck_objects: true }).contains("<skipped"));
    }

    #[test]
    fn failed_scanners_and_discovery_are_errors_not_failures() {
        let mut r = report();
        r.owner_reference_problems.clear();
        r.scanners[0] = status("owner_references", Some("connection refused <&>"));
        r.discovery_failures.push(crate::discovery::DiscoveryFailure {
            group_version: "metrics.k8s.io/v1beta1".into(),
            error: "503".into(),
        });
        let xml = render(&r, Checked::default());
        assert!(case(&xml, "KindCaseMismatch")
            .contains(r#"<error type="ScanFailed" message="the owner_references scanner failed: connection refused &lt;&amp;&gt;"/>"#));
        assert!(case(&xml, "ApiDiscovery").contains("API discovery failed for metrics.k8s.io/v1beta1: 503"));
        assert!(xml.contains(r#"tests="21" failures="1" errors="12""#), "{xml}");
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            xml("a<b & \"c\" 'd'\u{1}\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;\n"
        );
    }
}
