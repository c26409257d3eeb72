//! The routing part of a profile: units, rules and the confidential-mail markers, as the
//! admin writes them in TOML (`[routing]`), and their compiled form.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// `[routing]` in a profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// Route documents at all. Off: documents carry no routing decision.
    pub enabled: bool,
    /// Name of the clarification queue (Klärung) in reports.
    pub clarification: String,
    /// Evidence weaker than this (0-1; OCR confidence of the matched words, less for
    /// fuzzy matches) sends a document to clarification instead of its unit.
    pub min_confidence: f32,
    /// Names of the authority itself, as they head its address ("Stadt Braunschweig"): a
    /// person's name above them marks personal mail.
    pub authority: Vec<String>,
    /// Words in the address field that mark confidential mail (matched with one OCR
    /// error tolerated). Confidential mail is passed on unopened and never indexed; the
    /// built-in markers "persönlich" and "vertraulich" always apply.
    pub confidential_markers: Vec<String>,
    pub units: Vec<Unit>,
    pub rules: Vec<Rule>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            enabled: false,
            clarification: "Klärung".into(),
            min_confidence: 0.6,
            authority: Vec::new(),
            confidential_markers: Vec::new(),
            units: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// The markers no profile can switch off.
pub const BUILTIN_MARKERS: [&str; 2] = ["persönlich", "vertraulich"];

/// An organisation unit documents can be routed to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Code as used in rules and on cover sheets, e.g. "61" or "50.4".
    pub code: String,
    pub name: String,
    /// Where documents of this unit go in the DMS (a rule's own target wins).
    #[serde(default)]
    pub dms: Option<DmsTarget>,
}

/// An enaio object type (internal name) and the parent to file under.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DmsTarget {
    pub object_type: String,
    #[serde(default)]
    pub parent: Option<String>,
}

/// Where in the document a rule looks for its words.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Every page.
    #[default]
    Text,
    /// The first page.
    FirstPage,
    /// The sender: letterhead and return-address line above the address field.
    Sender,
    /// The subject line (Betreff) below the address field.
    Subject,
    /// The DIN 5008 address field of the first page (recipient and remarks).
    Address,
}

/// One routing rule: conditions (all given kinds must hold) and what it sets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    /// The unit the document goes to.
    pub unit: String,
    /// Higher wins among rules with evidence of the same strength.
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub zone: Zone,
    /// At least one of these words (case-insensitive, whole words; `Bau*` for a prefix).
    #[serde(default)]
    pub any: Vec<String>,
    /// Every one of these words.
    #[serde(default)]
    pub all: Vec<String>,
    /// At least one of these phrases (consecutive words).
    #[serde(default)]
    pub phrases: Vec<String>,
    /// At least one of these regular expressions matches the zone's text.
    #[serde(default)]
    pub regex: Vec<String>,
    /// At least one of these words, tolerant to OCR errors (1 edit from 5 letters, 2 from 9).
    #[serde(default)]
    pub fuzzy: Vec<String>,
    /// A barcode on the document whose whole text matches this regular expression.
    #[serde(default)]
    pub barcode: Option<String>,
    /// The document's cover sheet names this unit.
    #[serde(default)]
    pub cover_unit: Option<String>,
    /// Document type recorded for the DMS, e.g. "Bauantrag".
    #[serde(default)]
    pub document_type: Option<String>,
    /// Fields to extract: name = regular expression; the first capture group (or the
    /// whole match) is the value, searched in the whole text.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
    #[serde(default)]
    pub dms: Option<DmsTarget>,
}

impl Rule {
    /// How strong the rule's evidence is: barcode and cover-sheet rules beat the address
    /// field, which beats subject and sender, which beat the first page and the body.
    pub fn rank(&self) -> u8 {
        if self.barcode.is_some() || self.cover_unit.is_some() {
            return 4;
        }
        match self.zone {
            Zone::Address => 3,
            Zone::Subject | Zone::Sender => 2,
            Zone::FirstPage => 1,
            Zone::Text => 0,
        }
    }

    pub fn has_conditions(&self) -> bool {
        !(self.any.is_empty()
            && self.all.is_empty()
            && self.phrases.is_empty()
            && self.regex.is_empty()
            && self.fuzzy.is_empty()
            && self.barcode.is_none()
            && self.cover_unit.is_none())
    }
}

/// A rule with its regular expressions compiled.
pub struct CompiledRule {
    pub rule: Rule,
    pub regex: Vec<regex::Regex>,
    pub barcode: Option<regex::Regex>,
    pub extract: Vec<(String, regex::Regex)>,
}

/// The routing settings, checked and compiled once.
pub struct RuleSet {
    pub settings: RoutingSettings,
    pub rules: Vec<CompiledRule>,
    pub markers: Vec<String>,
}

/// Builds a rule's regular expression exactly as routing uses it (case-insensitive, size
/// bounded); `route --check` calls this too, so check and run never disagree.
pub fn build_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
}

/// A barcode condition matches the whole barcode text.
pub fn barcode_pattern(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

fn compile(what: &str, pattern: &str) -> Result<regex::Regex> {
    build_regex(pattern)
        .with_context(|| format!("{what}: {pattern:?} is not a valid regular expression"))
}

impl RuleSet {
    /// Compiles the rules; errors name the rule and what is wrong with it.
    pub fn new(settings: &RoutingSettings) -> Result<RuleSet> {
        if !(0.0..=1.0).contains(&settings.min_confidence) {
            bail!(
                "routing.min_confidence = {} is out of range (0-1)",
                settings.min_confidence
            );
        }
        let mut rules = Vec::new();
        for r in &settings.rules {
            let what = format!("routing rule {:?}", r.name);
            if !r.has_conditions() {
                bail!("{what} has no condition (any, all, phrases, regex, fuzzy, barcode or cover_unit)");
            }
            let regex = r
                .regex
                .iter()
                .map(|p| compile(&what, p))
                .collect::<Result<_>>()?;
            let barcode = r
                .barcode
                .as_deref()
                .map(|p| compile(&what, &barcode_pattern(p)))
                .transpose()?;
            let extract = r
                .extract
                .iter()
                .map(|(k, p)| Ok((k.clone(), compile(&format!("{what}, field {k:?}"), p)?)))
                .collect::<Result<_>>()?;
            rules.push(CompiledRule {
                rule: r.clone(),
                regex,
                barcode,
                extract,
            });
        }
        let mut markers: Vec<String> = BUILTIN_MARKERS.iter().map(|m| m.to_string()).collect();
        for m in &settings.confidential_markers {
            let m = m.to_lowercase();
            if !markers.contains(&m) {
                markers.push(m);
            }
        }
        Ok(RuleSet {
            settings: settings.clone(),
            rules,
            markers,
        })
    }

    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.settings.units.iter().find(|u| u.code == code)
    }
}
