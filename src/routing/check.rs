//! `mailroom route --check`: finds the mistakes in a rule set before it goes live.
//!
//! Errors: bad regular expressions, rules naming unknown units, rules without a
//! condition, and rules that can never fire because an earlier-or-stronger rule always
//! matches when they do (shadowed), or always ties with one for another unit. Warnings:
//! units no rule reaches (only cover sheets can), duplicate names and units.

use std::collections::BTreeSet;

use serde::Serialize;

use super::rules::{barcode_pattern, build_regex, RoutingSettings, Rule};
use super::text::tokens;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// The rule or unit concerned, if any.
    pub subject: Option<String>,
    pub message: String,
}

fn error(subject: Option<&str>, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        subject: subject.map(String::from),
        message,
    }
}

fn warning(subject: Option<&str>, message: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        subject: subject.map(String::from),
        message,
    }
}

fn norm_set(terms: &[String]) -> BTreeSet<Vec<String>> {
    terms.iter().map(|t| tokens(t)).collect()
}

/// True when `a` matches every document that `b` matches (a sufficient, conservative
/// test on the conditions as written: same zone, same barcode and cover conditions, and
/// every way `b` can match is also one of `a`'s).
fn always_matches_when(a: &Rule, b: &Rule) -> bool {
    let sub = |x: &[String], y: &[String]| norm_set(x).is_subset(&norm_set(y));
    let opt = |x: &Vec<String>, y: &Vec<String>| x.is_empty() || (!y.is_empty() && sub(y, x));
    a.zone == b.zone
        && a.barcode == b.barcode
        && a.cover_unit == b.cover_unit
        // b's alternatives are among a's (a group a does not have always holds for a)
        && opt(&a.any, &b.any)
        && opt(&a.phrases, &b.phrases)
        && opt(&a.fuzzy, &b.fuzzy)
        && (a.regex.is_empty() || (!b.regex.is_empty() && b.regex.iter().all(|r| a.regex.contains(r))))
        // every word a requires, b requires too
        && sub(&a.all, &b.all)
}

/// Checks the routing part of a profile; errors first.
pub fn check(settings: &RoutingSettings) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut codes = BTreeSet::new();
    for u in &settings.units {
        if !codes.insert(u.code.as_str()) {
            out.push(warning(
                Some(&u.code),
                format!("unit {:?} is defined twice", u.code),
            ));
        }
    }
    if !(0.0..=1.0).contains(&settings.min_confidence) {
        out.push(error(
            None,
            format!(
                "min_confidence = {} is out of range (0-1)",
                settings.min_confidence
            ),
        ));
    }
    let mut names = BTreeSet::new();
    for r in &settings.rules {
        let name = Some(r.name.as_str());
        if !names.insert(r.name.as_str()) {
            out.push(warning(
                name,
                format!("rule name {:?} is used twice", r.name),
            ));
        }
        if !codes.contains(r.unit.as_str()) {
            out.push(error(
                name,
                format!("rule {:?} routes to unknown unit {:?}", r.name, r.unit),
            ));
        }
        if let Some(c) = &r.cover_unit {
            if !codes.contains(c.as_str()) {
                out.push(error(
                    name,
                    format!("rule {:?}: cover_unit {c:?} is not a unit", r.name),
                ));
            }
        }
        if !r.has_conditions() {
            out.push(error(name, format!("rule {:?} has no condition", r.name)));
        }
        let patterns = r
            .regex
            .iter()
            .map(|p| ("regex", p.clone(), p.clone()))
            .chain(
                r.barcode
                    .iter()
                    .map(|p| ("barcode", p.clone(), barcode_pattern(p))),
            )
            .chain(
                r.extract
                    .values()
                    .map(|p| ("extract", p.clone(), p.clone())),
            )
            .collect::<Vec<_>>();
        for (what, p, built) in patterns {
            if let Err(e) = build_regex(&built) {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                out.push(error(
                    name,
                    format!(
                        "rule {:?}: {what} {p:?} is not a valid regular expression: {first}",
                        r.name
                    ),
                ));
            }
        }
        for term in r.any.iter().chain(&r.all).chain(&r.phrases).chain(&r.fuzzy) {
            if tokens(term.trim_end_matches('*')).is_empty() {
                out.push(error(
                    name,
                    format!("rule {:?}: term {term:?} has no letters or digits", r.name),
                ));
            }
        }
    }
    // shadowed: an earlier or stronger rule always matches when this one does
    for (j, b) in settings.rules.iter().enumerate() {
        for (i, a) in settings.rules.iter().enumerate() {
            if i == j || !a.has_conditions() || !b.has_conditions() || !always_matches_when(a, b) {
                continue;
            }
            let tie = a.priority == b.priority;
            if a.unit != b.unit && tie && i < j {
                out.push(error(
                    Some(&b.name),
                    format!(
                        "rule {:?} ({}) always ties with rule {:?} ({}): every document it matches goes to clarification",
                        b.name, b.unit, a.name, a.unit
                    ),
                ));
                break;
            }
            if a.priority > b.priority {
                out.push(error(
                    Some(&b.name),
                    format!(
                        "rule {:?} can never fire: rule {:?} matches whenever it does and wins (priority {} vs {})",
                        b.name, a.name, a.priority, b.priority
                    ),
                ));
                break;
            }
        }
    }
    let reached: BTreeSet<&str> = settings.rules.iter().map(|r| r.unit.as_str()).collect();
    for u in &settings.units {
        if !reached.contains(u.code.as_str()) {
            out.push(warning(
                Some(&u.code),
                format!(
                    "no rule routes to unit {:?} ({}); only cover sheets can",
                    u.code, u.name
                ),
            ));
        }
    }
    if !settings.enabled && !settings.rules.is_empty() {
        out.push(warning(
            None,
            "routing.enabled is false: these rules are not applied by `mailroom run`".into(),
        ));
    }
    out.sort_by_key(|f| f.severity);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;

    fn findings(toml: &str) -> Vec<Finding> {
        let p = Profile::parse_unchecked(toml).unwrap();
        check(&p.routing)
    }

    const UNITS: &str = r#"
[routing]
enabled = true
[[routing.units]]
code = "61"
name = "Stadtplanung"
[[routing.units]]
code = "60"
name = "Bauordnung"
"#;

    fn has(f: &[Finding], severity: Severity, text: &str) -> bool {
        f.iter()
            .any(|x| x.severity == severity && x.message.contains(text))
    }

    #[test]
    fn a_clean_rule_set_has_no_findings() {
        let f = findings(&format!(
            "{UNITS}[[routing.rules]]\nname = \"a\"\nunit = \"61\"\nany = [\"Bebauungsplan\"]\n[[routing.rules]]\nname = \"b\"\nunit = \"60\"\nany = [\"Bauantrag\"]\n"
        ));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn each_kind_of_mistake_is_caught() {
        let rules = r#"
[[routing.rules]]
name = "bad regex"
unit = "61"
regex = ["Bebauungsplan (Nr"]
[[routing.rules]]
name = "unknown unit"
unit = "62"
any = ["Kataster"]
[[routing.rules]]
name = "nothing"
unit = "61"
[[routing.rules]]
name = "wide"
unit = "61"
priority = 5
any = ["Bauantrag", "Bebauungsplan"]
[[routing.rules]]
name = "narrow"
unit = "60"
any = ["Bauantrag"]
[[routing.rules]]
name = "twin a"
unit = "61"
zone = "subject"
any = ["Flurstück"]
[[routing.rules]]
name = "twin b"
unit = "60"
zone = "subject"
any = ["Flurstück"]
"#;
        let mut units = UNITS.to_string();
        units.push_str("[[routing.units]]\ncode = \"37\"\nname = \"Feuerwehr\"\n");
        let f = findings(&format!("{units}{rules}"));
        assert!(
            has(
                &f,
                Severity::Error,
                "\"Bebauungsplan (Nr\" is not a valid regular expression"
            ),
            "{f:#?}"
        );
        assert!(
            has(&f, Severity::Error, "routes to unknown unit \"62\""),
            "{f:#?}"
        );
        assert!(
            has(&f, Severity::Error, "rule \"nothing\" has no condition"),
            "{f:#?}"
        );
        assert!(
            has(
                &f,
                Severity::Error,
                "rule \"narrow\" can never fire: rule \"wide\""
            ),
            "{f:#?}"
        );
        assert!(
            has(
                &f,
                Severity::Error,
                "rule \"twin b\" (60) always ties with rule \"twin a\""
            ),
            "{f:#?}"
        );
        assert!(
            has(&f, Severity::Warning, "no rule routes to unit \"37\""),
            "{f:#?}"
        );
        assert!(
            f.iter().position(|x| x.severity == Severity::Warning)
                > f.iter().rposition(|x| x.severity == Severity::Error)
        );
    }

    #[test]
    fn a_narrower_zone_or_an_extra_condition_is_not_shadowed() {
        let f = findings(&format!(
            "{UNITS}[[routing.rules]]\nname = \"body\"\nunit = \"61\"\npriority = 9\nany = [\"Bauantrag\"]\n[[routing.rules]]\nname = \"address\"\nunit = \"60\"\nzone = \"address\"\nany = [\"Bauantrag\"]\n[[routing.rules]]\nname = \"more\"\nunit = \"60\"\npriority = 10\nany = [\"Bauantrag\"]\nall = [\"Neubau\"]\n"
        ));
        assert!(!f.iter().any(|x| x.severity == Severity::Error), "{f:#?}");
    }

    #[test]
    fn the_bundled_profiles_are_clean() {
        for text in [
            include_str!("../../profiles/braunschweig.toml"),
            include_str!("../../profiles/minimal.toml"),
        ] {
            let f = findings(text);
            assert!(f.is_empty(), "{f:#?}");
            Profile::parse(text).unwrap();
        }
    }
}
