//! Routing: decides for every document the organisation unit it goes to, explainably.
//!
//! In this order:
//! 1. **Confidential mail** (built in, no rule can override it): an address field marked
//!    "persönlich" or "vertraulich" (and the profile's further markers, one OCR error
//!    tolerated), or a person's name above the authority ("Herrn Dr. Klaus Meier" over
//!    "Stadt Braunschweig"), goes to `unopened`: passed on by hand, its text stored
//!    nowhere.
//! 2. **Candidates**: a cover sheet naming a known unit (strongest), then every rule whose
//!    conditions hold. A rule's strength is its evidence rank (barcode or cover-sheet
//!    condition > address field > subject or sender > first page > whole text), then
//!    its priority, then its confidence (the OCR confidence of the matched words, lower
//!    for fuzzy matches).
//! 3. **Decision**: the strongest candidate's unit, unless nothing matched, the runner-up
//!    for another unit is equally strong (same rank and priority), or the evidence is
//!    weaker than `min_confidence`: then the clarification queue, with the reason.
//!
//! Every decision records the rule, the matched words with zone and page, the runner-up
//! and a confidence.

pub mod check;
pub mod dryrun;
pub mod rules;
pub mod text;
pub mod zones;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::barcode::Barcode;
use crate::coversheet::CoverSheet;
use rules::{CompiledRule, DmsTarget, RuleSet, Zone};
use text::{distance, fuzzy_eq, keyword_matches, tokens, tolerance};
use zones::{PageView, Zones};

/// Where a document goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Target {
    Unit {
        unit: String,
    },
    /// The clarification queue (Klärung).
    Clarification,
    /// Confidential: passed on unopened, not indexed, text not kept.
    Unopened,
}

impl Target {
    /// A short label for tables: the unit code, "clarification" or "unopened".
    pub fn label(&self) -> String {
        match self {
            Target::Unit { unit } => unit.clone(),
            Target::Clarification => "clarification".into(),
            Target::Unopened => "unopened".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Keyword,
    Phrase,
    Regex,
    Fuzzy,
    Barcode,
    CoverSheet,
    ConfidentialMarker,
    PersonAboveAuthority,
}

/// One piece of evidence: what matched where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    pub rule: String,
    pub kind: EvidenceKind,
    /// The rule's term (keyword, phrase, pattern).
    pub term: String,
    /// What was found.
    pub matched: String,
    /// Zone name, or "barcode" / "cover_sheet".
    pub zone: String,
    /// 1-based page; absent for cover sheets and barcodes.
    pub page: Option<usize>,
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunnerUp {
    pub rule: String,
    pub unit: String,
    pub confidence: f32,
}

/// The routing decision stored in the document JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoutingRecord {
    pub target: Target,
    /// Why the document went to clarification or unopened.
    pub reason: Option<String>,
    /// The rule that decided (for clarification: the strongest one considered).
    pub rule: Option<String>,
    pub confidence: f32,
    pub document_type: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub dms: Option<DmsTarget>,
    pub evidence: Vec<Evidence>,
    pub runner_up: Option<RunnerUp>,
}

/// What routing reads of a document.
#[derive(Debug, Clone, Default)]
pub struct RoutingInput<'a> {
    /// The document's pages with text, in order.
    pub pages: Vec<PageView<'a>>,
    /// Every barcode on the document's pages, separator sheets included.
    pub barcodes: Vec<&'a Barcode>,
    pub cover: Option<&'a CoverSheet>,
}

/// The name under which the built-in cover-sheet rule appears in explanations.
pub const COVER_SHEET_RULE: &str = "cover sheet";
/// The name of the built-in confidential-mail check.
pub const CONFIDENTIAL_RULE: &str = "confidential mail";

struct Candidate {
    rule: String,
    unit: String,
    rank: u8,
    priority: i32,
    confidence: f32,
    evidence: Vec<Evidence>,
    index: Option<usize>,
}

/// Routes one document.
pub fn route(set: &RuleSet, input: &RoutingInput) -> RoutingRecord {
    let zones = zones::find(&input.pages, &set.settings.authority);
    let mut record = RoutingRecord {
        target: Target::Clarification,
        reason: None,
        rule: None,
        confidence: 0.0,
        document_type: None,
        fields: BTreeMap::new(),
        dms: None,
        evidence: Vec::new(),
        runner_up: None,
    };
    let confidential = confidential_evidence(set, &zones);
    if !confidential.is_empty() {
        record.target = Target::Unopened;
        record.rule = Some(CONFIDENTIAL_RULE.into());
        record.confidence = 1.0;
        record.reason = Some(match confidential[0].kind {
            EvidenceKind::PersonAboveAuthority => {
                "addressed to a person above the authority: hand it over unopened".into()
            }
            _ => format!(
                "address field marked {:?}: hand it over unopened",
                confidential[0].matched
            ),
        });
        record.evidence = confidential;
        return record;
    }

    let mut candidates: Vec<Candidate> = Vec::new();
    if let Some(cover) = input.cover {
        if set.unit(&cover.unit).is_some() {
            candidates.push(Candidate {
                rule: COVER_SHEET_RULE.into(),
                unit: cover.unit.clone(),
                rank: 5,
                priority: i32::MAX,
                confidence: 1.0,
                evidence: vec![Evidence {
                    rule: COVER_SHEET_RULE.into(),
                    kind: EvidenceKind::CoverSheet,
                    term: "unit".into(),
                    matched: cover.unit.clone(),
                    zone: "cover_sheet".into(),
                    page: None,
                    confidence: 1.0,
                }],
                index: None,
            });
        }
    }
    for (i, rule) in set.rules.iter().enumerate() {
        if let Some((confidence, evidence)) = evaluate(rule, &zones, input) {
            candidates.push(Candidate {
                rule: rule.rule.name.clone(),
                unit: rule.rule.unit.clone(),
                rank: rule.rule.rank(),
                priority: rule.rule.priority,
                confidence,
                evidence,
                index: Some(i),
            });
        }
    }
    // strongest first; among equals the rule written first
    candidates.sort_by(|a, b| {
        (b.rank, b.priority)
            .cmp(&(a.rank, a.priority))
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let Some(best) = candidates.first() else {
        record.reason = Some("no rule matched".into());
        return record;
    };
    let runner = candidates.iter().find(|c| c.unit != best.unit);
    record.runner_up = runner.map(|r| RunnerUp {
        rule: r.rule.clone(),
        unit: r.unit.clone(),
        confidence: r.confidence,
    });
    record.rule = Some(best.rule.clone());
    record.confidence = best.confidence;
    record.evidence = best.evidence.clone();
    if let Some(r) = runner.filter(|r| (r.rank, r.priority) == (best.rank, best.priority)) {
        record.reason = Some(format!(
            "rules {:?} ({}) and {:?} ({}) are equally strong",
            best.rule, best.unit, r.rule, r.unit
        ));
        record.evidence.extend(r.evidence.iter().cloned());
        return record;
    }
    if best.confidence < set.settings.min_confidence {
        record.reason = Some(format!(
            "weak evidence for {} (rule {:?}): confidence {:.2} below {:.2}",
            best.unit, best.rule, best.confidence, set.settings.min_confidence
        ));
        return record;
    }
    if set.unit(&best.unit).is_none() {
        record.reason = Some(format!(
            "rule {:?} names an unknown unit {:?}",
            best.rule, best.unit
        ));
        return record;
    }
    record.target = Target::Unit {
        unit: best.unit.clone(),
    };
    let unit_dms = set.unit(&best.unit).and_then(|u| u.dms.clone());
    if let Some(rule) = best.index.map(|i| &set.rules[i]) {
        record.document_type = rule.rule.document_type.clone();
        record.dms = rule.rule.dms.clone().or(unit_dms);
        let (text, _) = zones.text.joined();
        for (name, re) in &rule.extract {
            if let Some(c) = re.captures(&text) {
                let m = c.get(1).or_else(|| c.get(0)).expect("a match has group 0");
                record
                    .fields
                    .insert(name.clone(), m.as_str().trim().to_string());
            }
        }
    } else {
        record.dms = unit_dms;
    }
    if let Some(cover) = input.cover {
        if let Some(case) = &cover.case {
            record
                .fields
                .entry("aktenzeichen".into())
                .or_insert(case.clone());
        }
    }
    record
}

fn zone_name(zone: Zone) -> String {
    serde_json::to_value(zone)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Markers and persons above the authority in the address field.
fn confidential_evidence(set: &RuleSet, zones: &Zones) -> Vec<Evidence> {
    let mut found = Vec::new();
    for w in &zones.address.words {
        if let Some(m) = set.markers.iter().find(|m| fuzzy_eq(&w.norm, m)) {
            found.push(Evidence {
                rule: CONFIDENTIAL_RULE.into(),
                kind: EvidenceKind::ConfidentialMarker,
                term: m.clone(),
                matched: w.text.clone(),
                zone: "address".into(),
                page: Some(1),
                confidence: w.conf / 100.0,
            });
        }
    }
    let lines = &zones.address_lines;
    let authority_line = lines.iter().position(|l| {
        set.settings
            .authority
            .iter()
            .any(|a| zones::contains_phrase(l, a))
    });
    if let Some(a) = authority_line {
        for line in &lines[..a] {
            let t = tokens(line);
            let salutation = matches!(
                t.first().map(String::as_str),
                Some("herrn" | "herr" | "frau" | "fr" | "hr")
            );
            // a return-address line carries a postcode or separators
            let address_like = line.contains('·')
                || line.contains(" - ")
                || t.iter()
                    .any(|w| w.len() == 5 && w.chars().all(|c| c.is_ascii_digit()));
            if salutation && t.len() >= 2 && !address_like {
                found.push(Evidence {
                    rule: CONFIDENTIAL_RULE.into(),
                    kind: EvidenceKind::PersonAboveAuthority,
                    term: "person above the authority".into(),
                    matched: line.clone(),
                    zone: "address".into(),
                    page: Some(1),
                    confidence: 1.0,
                });
            }
        }
    }
    found
}

/// Checks a rule's conditions; returns its confidence and evidence when all hold.
fn evaluate(
    rule: &CompiledRule,
    zones: &Zones,
    input: &RoutingInput,
) -> Option<(f32, Vec<Evidence>)> {
    let r = &rule.rule;
    let zone = zones.get(r.zone);
    let zname = zone_name(r.zone);
    let mut evidence = Vec::new();
    let mut confidence = 1.0f32;
    let ev = |kind, term: &str, matched: String, page: Option<usize>, conf: f32| Evidence {
        rule: r.name.clone(),
        kind,
        term: term.to_string(),
        matched,
        zone: zname.clone(),
        page,
        confidence: conf,
    };
    // the best match of one word or phrase
    let best_word = |term: &str, kind: EvidenceKind| -> Option<Evidence> {
        let want = tokens(term.trim_end_matches('*'));
        let prefix = term.ends_with('*');
        if want.is_empty() {
            return None;
        }
        let mut best: Option<Evidence> = None;
        for window in zone.words.windows(want.len()) {
            let mut conf = 1.0f32;
            let mut ok = true;
            for (k, (w, t)) in window.iter().zip(&want).enumerate() {
                let last = k + 1 == want.len();
                let c = match kind {
                    EvidenceKind::Fuzzy => distance(&w.norm, t, tolerance(t.chars().count()))
                        .map(|d| w.conf / 100.0 * (1.0 - 0.1 * d as f32)),
                    _ if last && prefix => {
                        keyword_matches(&w.norm, &format!("{t}*")).then_some(w.conf / 100.0)
                    }
                    _ => (w.norm == *t).then_some(w.conf / 100.0),
                };
                match c {
                    Some(c) => conf = conf.min(c),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok && best.as_ref().is_none_or(|b| conf > b.confidence) {
                let matched = window
                    .iter()
                    .map(|w| w.norm.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                best = Some(ev(kind, term, matched, Some(window[0].page), conf));
            }
        }
        best
    };
    let any_of =
        |terms: &[String], kind: EvidenceKind, evidence: &mut Vec<Evidence>| -> Option<f32> {
            if terms.is_empty() {
                return Some(1.0);
            }
            let best = terms
                .iter()
                .filter_map(|t| best_word(t, kind))
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence))?;
            let c = best.confidence;
            evidence.push(best);
            Some(c)
        };
    confidence = confidence.min(any_of(&r.any, EvidenceKind::Keyword, &mut evidence)?);
    confidence = confidence.min(any_of(&r.phrases, EvidenceKind::Phrase, &mut evidence)?);
    confidence = confidence.min(any_of(&r.fuzzy, EvidenceKind::Fuzzy, &mut evidence)?);
    for term in &r.all {
        let e = best_word(term, EvidenceKind::Keyword)?;
        confidence = confidence.min(e.confidence);
        evidence.push(e);
    }
    if !rule.regex.is_empty() {
        let (text, spans) = zone.joined();
        let e = rule.regex.iter().find_map(|re| {
            let m = re.find(&text)?;
            let hit: Vec<&zones::ZoneWord> = zone
                .words
                .iter()
                .zip(&spans)
                .filter(|(_, &(s, e))| s < m.end() && e > m.start())
                .map(|(w, _)| w)
                .collect();
            let conf = hit.iter().map(|w| w.conf / 100.0).fold(1.0f32, f32::min);
            Some(ev(
                EvidenceKind::Regex,
                re.as_str(),
                m.as_str().to_string(),
                hit.first().map(|w| w.page),
                conf,
            ))
        })?;
        confidence = confidence.min(e.confidence);
        evidence.push(e);
    }
    if let Some(re) = &rule.barcode {
        let b = input.barcodes.iter().find(|b| re.is_match(&b.text))?;
        evidence.push(Evidence {
            zone: "barcode".into(),
            ..ev(
                EvidenceKind::Barcode,
                re.as_str(),
                b.text.clone(),
                None,
                1.0,
            )
        });
    }
    if let Some(unit) = &r.cover_unit {
        let cover = input.cover.filter(|c| &c.unit == unit)?;
        evidence.push(Evidence {
            zone: "cover_sheet".into(),
            ..ev(
                EvidenceKind::CoverSheet,
                unit,
                cover.unit.clone(),
                None,
                1.0,
            )
        });
    }
    Some((confidence, evidence))
}

#[cfg(test)]
mod tests {
    use super::rules::{RoutingSettings, Rule, Unit};
    use super::*;
    use crate::ocr::{Line, PageText, PxBox, Word};

    const DPI: f32 = 300.0;

    /// A page from lines placed at (x mm, y mm); every word read with `conf`.
    fn page(lines: &[(f32, f32, &str)], conf: f32) -> PageText {
        let px = |mm: f32| (mm / 25.4 * DPI) as u32;
        PageText {
            lines: lines
                .iter()
                .map(|&(x, y, text)| {
                    let mut left = px(x);
                    let words: Vec<Word> = text
                        .split_whitespace()
                        .map(|w| {
                            let b = PxBox {
                                x: left,
                                y: px(y),
                                w: 20 * w.len() as u32,
                                h: px(3.5),
                            };
                            left += b.w + 15;
                            Word {
                                text: w.into(),
                                bbox: b,
                                conf,
                            }
                        })
                        .collect();
                    let bbox = words[1..]
                        .iter()
                        .fold(words[0].bbox, |a, w| a.union(&w.bbox));
                    Line { bbox, words }
                })
                .collect(),
        }
    }

    /// A DIN 5008 letter: return address, optional remark and recipient lines, subject
    /// and body.
    fn letter(address: &[&str], subject: &str, body: &[&str]) -> Vec<(f32, f32, String)> {
        let mut lines = vec![(
            25.0,
            50.0,
            "Lea Mertens · Hamburger Straße 8 · 38124 Braunschweig".to_string(),
        )];
        for (i, l) in address.iter().enumerate() {
            lines.push((25.0, 58.0 + 4.5 * i as f32, l.to_string()));
        }
        lines.push((140.0, 100.0, "11. Juni 2026".into()));
        lines.push((25.0, 110.0, subject.to_string()));
        lines.push((25.0, 122.0, "Sehr geehrte Damen und Herren,".into()));
        for (i, l) in body.iter().enumerate() {
            lines.push((25.0, 132.0 + 5.0 * i as f32, l.to_string()));
        }
        lines
    }

    fn text_of(lines: &[(f32, f32, String)], conf: f32) -> PageText {
        let refs: Vec<(f32, f32, &str)> =
            lines.iter().map(|(x, y, t)| (*x, *y, t.as_str())).collect();
        page(&refs, conf)
    }

    fn rule(name: &str, unit: &str, zone: Zone, any: &[&str]) -> Rule {
        Rule {
            name: name.into(),
            unit: unit.into(),
            priority: 0,
            zone,
            any: any.iter().map(|s| s.to_string()).collect(),
            all: vec![],
            phrases: vec![],
            regex: vec![],
            fuzzy: vec![],
            barcode: None,
            cover_unit: None,
            document_type: None,
            extract: BTreeMap::new(),
            dms: None,
        }
    }

    fn settings(rules: Vec<Rule>) -> RoutingSettings {
        RoutingSettings {
            enabled: true,
            authority: vec!["Stadt Braunschweig".into()],
            units: ["61", "60", "50.4"]
                .iter()
                .map(|c| Unit {
                    code: c.to_string(),
                    name: format!("Fachbereich {c}"),
                    dms: None,
                })
                .collect(),
            rules,
            ..RoutingSettings::default()
        }
    }

    fn route_text(s: &RoutingSettings, text: &PageText) -> RoutingRecord {
        let set = RuleSet::new(s).unwrap();
        let input = RoutingInput {
            pages: vec![PageView {
                text,
                dpi: (DPI, DPI),
                size_px: (2480, 3508),
            }],
            ..Default::default()
        };
        route(&set, &input)
    }

    fn standard_rules() -> Vec<Rule> {
        vec![
            rule(
                "FB 61 im Anschriftfeld",
                "61",
                Zone::Address,
                &["Stadtplanung"],
            ),
            rule(
                "FB 60 im Anschriftfeld",
                "60",
                Zone::Address,
                &["Bauordnung"],
            ),
            rule("Bauantrag im Text", "60", Zone::Text, &["Bauantrag*"]),
            rule(
                "Infektionsschutz im Betreff",
                "50.4",
                Zone::Subject,
                &["Infektionsschutz"],
            ),
        ]
    }

    const FB61: [&str; 4] = [
        "Stadt Braunschweig",
        "Fachbereich 61 Stadtplanung und Geoinformation",
        "Platz der Deutschen Einheit 1",
        "38100 Braunschweig",
    ];

    #[test]
    fn the_address_field_beats_words_in_the_body() {
        let text = text_of(
            &letter(
                &FB61,
                "Betreff: Ihr Schreiben",
                &["Den Bauantrag reiche ich nach."],
            ),
            92.0,
        );
        let r = route_text(&settings(standard_rules()), &text);
        assert_eq!(r.target, Target::Unit { unit: "61".into() }, "{r:#?}");
        assert_eq!(r.rule.as_deref(), Some("FB 61 im Anschriftfeld"));
        assert_eq!(r.evidence[0].zone, "address");
        assert_eq!(r.evidence[0].matched, "stadtplanung");
        assert!((r.confidence - 0.92).abs() < 1e-4);
        let runner = r.runner_up.unwrap();
        assert_eq!(
            (runner.unit.as_str(), runner.rule.as_str()),
            ("60", "Bauantrag im Text")
        );
    }

    #[test]
    fn the_subject_zone_is_the_betreff_line() {
        let address = [
            "Stadt Braunschweig",
            "Der Oberbürgermeister",
            "38100 Braunschweig",
        ];
        let text = text_of(
            &letter(
                &address,
                "Betreff: Meldung nach dem Infektionsschutzgesetz",
                &[],
            ),
            90.0,
        );
        let mut rules = standard_rules();
        rules[3].any = vec!["Infektionsschutz*".into()];
        let r = route_text(&settings(rules.clone()), &text);
        assert_eq!(
            r.target,
            Target::Unit {
                unit: "50.4".into()
            },
            "{r:#?}"
        );
        assert_eq!(r.evidence[0].zone, "subject");
        // the same word in the body is not the subject
        let text = text_of(
            &letter(
                &address,
                "Betreff: Anfrage",
                &["zum Infektionsschutzgesetz"],
            ),
            90.0,
        );
        let r = route_text(&settings(rules), &text);
        assert_eq!(r.target, Target::Clarification);
        assert_eq!(r.reason.as_deref(), Some("no rule matched"));
    }

    #[test]
    fn marked_or_personal_mail_is_unopened_whatever_the_rules_say() {
        let mut rules = standard_rules();
        rules.push(Rule {
            barcode: Some(".*".into()),
            priority: 1000,
            ..rule("alles mit Barcode", "61", Zone::Text, &[])
        });
        for marker in [
            "Persönlich",
            "VERTRAULICH",
            "Persönlich/Vertraulich",
            "Pers0nlich",
        ] {
            let mut address = vec![marker];
            address.extend(FB61);
            let text = text_of(&letter(&address, "Betreff: Antrag", &[]), 88.0);
            let r = route_text(&settings(rules.clone()), &text);
            assert_eq!(r.target, Target::Unopened, "{marker}: {r:#?}");
            assert_eq!(r.evidence[0].kind, EvidenceKind::ConfidentialMarker);
        }
        let mut address = vec!["Herrn Dr. Klaus Meier"];
        address.extend(FB61);
        let text = text_of(&letter(&address, "Betreff: Antrag", &[]), 88.0);
        let r = route_text(&settings(rules.clone()), &text);
        assert_eq!(r.target, Target::Unopened, "{r:#?}");
        assert_eq!(r.evidence[0].kind, EvidenceKind::PersonAboveAuthority);
        assert_eq!(r.evidence[0].matched, "Herrn Dr. Klaus Meier");
    }

    #[test]
    fn attention_lines_and_personal_words_in_the_body_are_not_confidential() {
        let address = [
            "Stadt Braunschweig",
            "Fachbereich 61 Stadtplanung und Geoinformation",
            "z. Hd. Frau Schulze",
            "38100 Braunschweig",
        ];
        let body = [
            "über ein persönliches Gespräch würde ich mich freuen,",
            "vertraulich behandelt",
        ];
        let text = text_of(&letter(&address, "Betreff: Bewerbung", &body), 90.0);
        let r = route_text(&settings(standard_rules()), &text);
        assert_eq!(r.target, Target::Unit { unit: "61".into() }, "{r:#?}");
    }

    #[test]
    fn equal_rules_for_two_units_and_weak_evidence_go_to_clarification() {
        let address = ["Stadt Braunschweig", "38100 Braunschweig"];
        let text = text_of(
            &letter(&address, "Betreff: Bauantrag und Infektionsschutz", &[]),
            90.0,
        );
        let rules = vec![
            rule("Bau", "60", Zone::Subject, &["Bauantrag"]),
            rule("Gesundheit", "50.4", Zone::Subject, &["Infektionsschutz"]),
        ];
        let r = route_text(&settings(rules), &text);
        assert_eq!(r.target, Target::Clarification);
        assert!(
            r.reason.as_ref().unwrap().contains("equally strong"),
            "{r:#?}"
        );

        let text = text_of(&letter(&FB61, "Betreff: x", &[]), 41.0);
        let r = route_text(&settings(standard_rules()), &text);
        assert_eq!(r.target, Target::Clarification);
        assert!(
            r.reason
                .as_ref()
                .unwrap()
                .starts_with("weak evidence for 61"),
            "{r:#?}"
        );
    }

    #[test]
    fn fuzzy_terms_phrases_regexes_and_extraction() {
        let address = [
            "Stadt Braunschweig",
            "Fachbereich 60 Bauordnunq",
            "38100 Braunschweig",
        ];
        let body = [
            "Aktenzeichen: 60.12-0815/2026",
            "wie im Bebauungsplan Nr. 12 festgesetzt",
        ];
        let text = text_of(&letter(&address, "Betreff: Nachbarbeschwerde", &body), 95.0);
        let mut fuzzy = rule("Bauordnung (OCR-tolerant)", "60", Zone::Address, &[]);
        fuzzy.fuzzy = vec!["Bauordnung".into()];
        fuzzy
            .extract
            .insert("aktenzeichen".into(), r"Aktenzeichen:?\s*(\S+)".into());
        fuzzy.document_type = Some("Beschwerde".into());
        let r = route_text(&settings(vec![fuzzy.clone()]), &text);
        assert_eq!(r.target, Target::Unit { unit: "60".into() }, "{r:#?}");
        assert_eq!(r.evidence[0].kind, EvidenceKind::Fuzzy);
        assert!(
            (r.confidence - 0.95 * 0.9).abs() < 1e-4,
            "one edit costs 10 %"
        );
        assert_eq!(r.fields["aktenzeichen"], "60.12-0815/2026");
        assert_eq!(r.document_type.as_deref(), Some("Beschwerde"));

        let mut phrase = rule("B-Plan", "61", Zone::Text, &[]);
        phrase.phrases = vec!["im Bebauungsplan".into()];
        phrase.priority = 5;
        let mut re = rule("Nr", "61", Zone::Text, &[]);
        re.regex = vec![r"Bebauungsplan Nr\. \d+".into()];
        for r in [phrase, re] {
            let out = route_text(&settings(vec![r]), &text);
            assert_eq!(out.target, Target::Unit { unit: "61".into() }, "{out:#?}");
        }
    }

    #[test]
    fn a_cover_sheet_beats_every_word_and_its_case_is_a_field() {
        let text = text_of(&letter(&FB61, "Betreff: Bauantrag", &[]), 90.0);
        let set = RuleSet::new(&settings(standard_rules())).unwrap();
        let cover = CoverSheet {
            unit: "50.4".into(),
            case: Some("50.4-1/2026".into()),
            ..Default::default()
        };
        let input = RoutingInput {
            pages: vec![PageView {
                text: &text,
                dpi: (DPI, DPI),
                size_px: (2480, 3508),
            }],
            barcodes: vec![],
            cover: Some(&cover),
        };
        let r = route(&set, &input);
        assert_eq!(
            r.target,
            Target::Unit {
                unit: "50.4".into()
            }
        );
        assert_eq!(r.rule.as_deref(), Some(COVER_SHEET_RULE));
        assert_eq!(r.fields["aktenzeichen"], "50.4-1/2026");
    }
}
