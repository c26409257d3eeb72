//! The report of `mailroom validate` as one self-contained HTML page, for the acceptance
//! officer to read, print and archive with the delivery: inline CSS, no scripts, no
//! external resources (thumbnails are data URIs), so it reads the same offline and years
//! later. Labels are German (the officer's language), with the stable English names of
//! the finding kinds beside them (they are the keys of the JSON report).
//!
//! Every text from the report is escaped: file names and details come from the
//! contractor's delivery, and a file named `<script>...` stays text.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Decision, Finding, FindingKind, ValidationReport};

/// German label of a finding kind.
fn label(kind: FindingKind) -> &'static str {
    use FindingKind::*;
    match kind {
        BagInvalid => "BagIt-Struktur ungültig",
        PayloadOxumMismatch => "Payload-Oxum stimmt nicht",
        MissingFile => "Datei fehlt (laut Manifest)",
        ExtraFile => "Datei nicht im Manifest",
        AlteredFile => "Prüfsumme weicht ab",
        AlteredTagFile => "Tag-Datei verändert",
        NotDelivered => "Nicht geliefert (laut Bestandsliste)",
        NotOrdered => "Nicht bestellt (nicht in der Bestandsliste)",
        PageCountMismatch => "Seitenzahl weicht ab",
        DuplicateFile => "Doppelte Datei",
        Unreadable => "Nicht lesbar",
        NotPdfa => "Kein PDF/A",
        LowResolution => "Auflösung zu gering",
        Skewed => "Schräglage",
        WrongOrientation => "Falsche Ausrichtung",
        BlankPage => "Leerseite",
        BlackBorder => "Schwarzer Rand / Inhalt abgeschnitten",
        Illegible => "Schlecht lesbar (OCR)",
    }
}

/// The kind's stable name, as in the JSON report (`low_resolution`).
fn key(kind: FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An integer with German thousands separators: 1.234.567.
fn de_int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A number with `decimals` places, German style: 1.234,5.
fn de_num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.push('-');
    }
    out.push_str(&de_int(int.parse().unwrap_or(0)));
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// Bytes in full and in a readable unit: "1.234.567 Bytes (1,2 MiB)".
fn de_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{} Bytes ({} {u})", de_int(bytes), de_num(value, 1)),
        None => format!("{} Bytes", de_int(bytes)),
    }
}

/// The AQL as printed in ISO 2859-1's tables (0,65 / 1,0 / 2,5).
fn de_aql(aql: f64) -> String {
    let s = if aql.fract() == 0.0 {
        format!("{aql:.1}")
    } else {
        format!("{aql}")
    };
    s.replace('.', ",")
}

/// The date part of an RFC 3339 timestamp, else the timestamp as it is.
fn date_of(timestamp: &str) -> &str {
    let date = timestamp.get(..10).unwrap_or(timestamp);
    let looks_like_date = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if looks_like_date {
        date
    } else {
        timestamp
    }
}

/// Only PNG data URIs are embedded; anything else in the report (a tampered JSON file)
/// is not put into the page.
fn is_png_data_uri(uri: &str) -> bool {
    uri.strip_prefix("data:image/png;base64,")
        .is_some_and(|b64| {
            !b64.is_empty()
                && b64
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        })
}

const CSS: &str = r#"
:root { --ink: #1a1a1a; --muted: #5a5f66; --line: #d4d7dc; --soft: #f4f5f7;
  --ok: #1b6e2d; --ok-bg: #e7f4ea; --bad: #a4161a; --bad-bg: #fdecec; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1100px; padding: 28px 32px 40px; color: var(--ink);
  font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; }
header { border-bottom: 2px solid var(--ink); padding-bottom: 12px; margin-bottom: 20px; }
.kicker { margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .04em;
  text-transform: uppercase; }
h1 { margin: 4px 0 6px; font-size: 27px; line-height: 1.2; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 30px 0 10px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.meta { margin: 0; color: var(--muted); overflow-wrap: anywhere; }
.en { color: var(--muted); font-weight: normal; font-size: .85em; }
code, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: .9em; }
.decision { border: 3px solid; border-radius: 6px; padding: 16px 22px; margin: 0 0 8px; }
.decision.accept { border-color: var(--ok); background: var(--ok-bg); }
.decision.reject { border-color: var(--bad); background: var(--bad-bg); }
.verdict { font-size: 44px; font-weight: bold; letter-spacing: .03em; line-height: 1.1; }
.accept .verdict { color: var(--ok); }
.reject .verdict { color: var(--bad); }
.decision p { margin: 6px 0 0; }
.decision ul { margin: 8px 0 0; padding-left: 22px; }
.decision li { margin: 3px 0; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px;
  background: var(--soft); break-inside: avoid; }
.card h3 { margin: 0 0 6px; }
dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
table { width: 100%; border-collapse: collapse; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px;
  border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.file { overflow-wrap: anywhere; word-break: break-word; }
thead { display: table-header-group; }
table.list { table-layout: fixed; }
col.c-file { width: 32%; } col.c-page { width: 8%; } col.c-item { width: 13%; }
tr { break-inside: avoid; }
.lot { color: var(--bad); font-weight: bold; }
.none { color: var(--muted); font-style: italic; }
figure { display: grid; grid-template-columns: auto 1fr; gap: 18px; margin: 0 0 16px;
  padding: 12px; border: 1px solid var(--line); border-radius: 6px; break-inside: avoid; }
figure img { display: block; max-height: 320px; max-width: 260px; border: 1px solid #999;
  background: #fff; }
figcaption { font-weight: bold; overflow-wrap: anywhere; margin-bottom: 4px; }
figure ul { margin: 4px 0 0; padding-left: 18px; }
.missing { width: 140px; height: 198px; border: 1px dashed #999; color: var(--muted);
  display: flex; align-items: center; justify-content: center; text-align: center;
  font-size: 12px; }
footer { margin-top: 34px; padding-top: 10px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 13px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .verdict { font-size: 30pt; }
  h2, h3 { break-after: avoid; }
  .cards { grid-template-columns: repeat(3, 1fr); }
}
@media screen and (max-width: 700px) { .cards { grid-template-columns: 1fr; } }
"#;

/// Renders the report as one self-contained HTML5 page.
pub fn render(report: &ValidationReport) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let delivery_name = report
        .delivery
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&report.delivery);
    let date = date_of(&report.finished);
    let (verdict, verdict_en, class) = match report.decision {
        Decision::Accept => ("Angenommen", "accepted", "accept"),
        Decision::Reject => ("Abgelehnt", "rejected", "reject"),
    };

    // Writing to a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"mailroom {version}\">\n\
         <title>Abnahmeprüfung {name} – {date} – {verdict}</title>\n<style>{CSS}</style>\n\
         </head>\n<body>\n<header>\n\
         <p class=\"kicker\">Abnahmeprüfung einer Digitalisierungslieferung \
         <span class=\"en\">(acceptance check, mailroom validate)</span></p>\n\
         <h1>{name}</h1>\n\
         <p class=\"meta\">Prüfdatum <strong>{date}</strong> · Profil {profile} · \
         geprüft {started} bis {finished}</p>\n\
         <p class=\"meta\">Lieferordner <span class=\"mono\">{path}</span></p>\n\
         <p class=\"meta\">Bestandsliste {inventory}</p>\n\
         </header>\n",
        version = escape(&report.mailroom_version),
        name = escape(delivery_name),
        date = escape(date),
        path = escape(&report.delivery),
        inventory = report
            .inventory
            .as_deref()
            .map(|i| format!("<span class=\"mono\">{}</span>", escape(i)))
            .unwrap_or_else(|| "<span class=\"none\">keine</span>".into()),
        profile = escape(&report.profile),
        started = escape(&report.started),
        finished = escape(&report.finished),
    );

    // The decision, big, with its reasons.
    let _ = write!(
        h,
        "<section class=\"decision {class}\" id=\"decision\">\n\
         <div class=\"verdict\">{verdict} <span class=\"en\">({verdict_en})</span></div>\n"
    );
    if report.reasons.is_empty() {
        h.push_str("<p class=\"none\">Keine Begründung angegeben.</p>\n");
    } else {
        h.push_str("<p>Begründung:</p>\n<ul>\n");
        for r in &report.reasons {
            let _ = writeln!(h, "<li>{}</li>", escape(r));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");

    render_facts(&mut h, report);
    render_findings(&mut h, &report.findings);
    render_failed_pages(&mut h, report);

    let _ = write!(
        h,
        "<footer>\nErstellt von mailroom {version} (Berichtsschema {schema}) in {elapsed} s. \
         Diese Seite ist in sich vollständig: keine Skripte, keine externen Dateien; \
         die Vorschaubilder sind eingebettet. Der maschinenlesbare Bericht liegt als JSON \
         daneben.\n</footer>\n</body>\n</html>\n",
        version = escape(&report.mailroom_version),
        schema = report.schema_version,
        elapsed = de_num(report.elapsed_seconds, 1),
    );
    h
}

/// The lot, the hash phase and the sampling plan, side by side.
fn render_facts(h: &mut String, report: &ValidationReport) {
    h.push_str("<h2>Prüfumfang <span class=\"en\">(scope)</span></h2>\n<div class=\"cards\">\n");
    let lot = &report.lot;
    let _ = writeln!(
        h,
        "<div class=\"card\"><h3>Los <span class=\"en\">(lot)</span></h3><dl>\
         <dt>Dateien</dt><dd>{}</dd><dt>Seiten</dt><dd>{}</dd><dt>Umfang</dt><dd>{}</dd>\
         </dl></div>",
        de_int(lot.files as u64),
        de_int(lot.pages as u64),
        de_bytes(lot.bytes),
    );
    let hash = &report.hash;
    let _ = writeln!(
        h,
        "<div class=\"card\"><h3>Prüfsummen <span class=\"en\">(SHA-256, 100 %)</span></h3><dl>\
         <dt>Gelesen</dt><dd>{}</dd><dt>Dauer</dt><dd>{} s</dd>\
         <dt>Durchsatz</dt><dd>{} MB/s</dd></dl></div>",
        de_bytes(hash.bytes),
        de_num(hash.seconds, 1),
        de_num(hash.mb_per_second, 1),
    );
    match &report.sampling {
        Some(s) => {
            // The pages drawn; a plan that asks for more than the lot has inspects all.
            let drawn = if s.sampled.is_empty() {
                s.sample_size
            } else {
                s.sampled.len()
            };
            let _ = writeln!(
                h,
                "<div class=\"card\"><h3>Stichprobe <span class=\"en\">(ISO 2859-1)</span></h3><dl>\
                 <dt>Prüfniveau</dt><dd>{level}</dd><dt>AQL</dt><dd>{aql}</dd>\
                 <dt>Losumfang</dt><dd>{lot} Seiten</dd>\
                 <dt>Kennbuchstabe</dt><dd>{letter}</dd>\
                 <dt>Stichprobe n</dt><dd>{n} Seiten</dd>\
                 <dt>Ac / Re</dt><dd>{ac} / {re}</dd>\
                 <dt>Seed</dt><dd class=\"mono\">{seed}</dd>\
                 <dt>Fehlerhaft</dt><dd><strong>{bad}</strong> von {drawn} Seiten</dd>\
                 <dt>Ergebnis</dt><dd>{result}</dd></dl></div>",
                level = escape(&s.inspection_level),
                aql = de_aql(s.aql),
                lot = de_int(s.lot_size as u64),
                letter = escape(&s.code_letter.to_string()),
                n = de_int(s.sample_size as u64),
                ac = s.accept,
                re = s.reject,
                seed = s.seed,
                bad = s.nonconforming,
                drawn = de_int(drawn as u64),
                result = if s.nonconforming >= s.reject {
                    "<strong class=\"lot\">nicht bestanden</strong> (≥ Re)"
                } else {
                    "bestanden (≤ Ac)"
                },
            );
        }
        None => h.push_str(
            "<div class=\"card\"><h3>Stichprobe <span class=\"en\">(ISO 2859-1)</span></h3>\
             <p class=\"none\">Keine Stichprobe gezogen: die Seiten wurden nicht geprüft.</p></div>\n",
        ),
    }
    h.push_str("</div>\n");
}

/// Counts per kind, then one table per kind.
fn render_findings(h: &mut String, findings: &[Finding]) {
    let _ = writeln!(
        h,
        "<h2 id=\"findings\">Befunde <span class=\"en\">(findings: {})</span></h2>",
        findings.len()
    );
    if findings.is_empty() {
        h.push_str("<p class=\"none\">Keine Befunde.</p>\n");
        return;
    }
    let mut by_kind: BTreeMap<FindingKind, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_kind.entry(f.kind).or_default().push(f);
    }
    h.push_str(
        "<table>\n<thead><tr><th>Befund</th><th>Schlüssel</th><th>Wirkung</th>\
         <th class=\"num\">Anzahl</th></tr></thead>\n<tbody>\n",
    );
    for (kind, list) in &by_kind {
        let effect = if kind.is_lot_defect() {
            "<span class=\"lot\">weist das Los zurück</span>"
        } else {
            "zählt gegen die Annahmezahl"
        };
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{key}\">{label}</a></td><td><code>{key}</code></td>\
             <td>{effect}</td><td class=\"num\">{count}</td></tr>",
            key = key(*kind),
            label = label(*kind),
            count = de_int(list.len() as u64),
        );
    }
    h.push_str("</tbody>\n</table>\n");

    for (kind, list) in by_kind {
        let _ = write!(
            h,
            "<h3 id=\"{key}\">{label} <span class=\"en\">({key}, {count})</span></h3>\n\
             <table class=\"list\">\n<colgroup><col class=\"c-file\"><col class=\"c-page\">\
             <col class=\"c-item\"><col></colgroup>\n\
             <thead><tr><th>Datei</th><th class=\"num\">Seite</th><th>Akte</th>\
             <th>Befund im Einzelnen</th></tr></thead>\n<tbody>\n",
            key = key(kind),
            label = label(kind),
            count = list.len(),
        );
        let mut list = list;
        list.sort_by(|a, b| (&a.file, a.page).cmp(&(&b.file, b.page)));
        for f in list {
            let _ = writeln!(
                h,
                "<tr><td class=\"file mono\">{file}</td><td class=\"num\">{page}</td>\
                 <td>{item}</td><td>{detail}</td></tr>",
                file = f.file.as_deref().map(escape).unwrap_or_else(|| "–".into()),
                page = f.page.map(|p| p.to_string()).unwrap_or_else(|| "–".into()),
                item = f.item.as_deref().map(escape).unwrap_or_else(|| "–".into()),
                detail = escape(&f.detail),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
}

/// Thumbnails of the failed sampled pages, each next to its findings.
fn render_failed_pages(h: &mut String, report: &ValidationReport) {
    let failed = report
        .sampling
        .as_ref()
        .map(|s| s.nonconforming)
        .unwrap_or(0);
    if report.thumbnails.is_empty() && failed == 0 {
        return;
    }
    let _ = writeln!(
        h,
        "<h2 id=\"pages\">Fehlerhafte Seiten der Stichprobe \
         <span class=\"en\">(failed sampled pages: {})</span></h2>",
        report.thumbnails.len()
    );
    if report.thumbnails.is_empty() {
        h.push_str("<p class=\"none\">Keine Vorschaubilder im Bericht.</p>\n");
        return;
    }
    for (page_key, uri) in &report.thumbnails {
        let (file, page) = match page_key.rsplit_once('#') {
            Some((file, page)) => (file, page.parse::<usize>().ok()),
            None => (page_key.as_str(), None),
        };
        let title = match page {
            Some(p) => format!("{}, Seite {p}", escape(file)),
            None => escape(page_key),
        };
        h.push_str("<figure>\n");
        if is_png_data_uri(uri) {
            let _ = writeln!(h, "<img src=\"{}\" alt=\"Vorschau: {title}\">", escape(uri));
        } else {
            h.push_str("<div class=\"missing\">Vorschaubild nicht verfügbar</div>\n");
        }
        let _ = write!(h, "<div>\n<figcaption>{title}</figcaption>\n");
        let findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.file.as_deref() == Some(file) && f.page.is_some() && f.page == page)
            .collect();
        if findings.is_empty() {
            h.push_str("<p class=\"none\">Keine Befunde zu dieser Seite im Bericht.</p>\n");
        } else {
            h.push_str("<ul>\n");
            for f in findings {
                let _ = writeln!(
                    h,
                    "<li><strong>{}</strong> <span class=\"en\">({})</span>: {}</li>",
                    label(f.kind),
                    key(f.kind),
                    escape(&f.detail)
                );
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</div>\n</figure>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{HashSummary, LotSummary, PageRef, SamplingSummary};

    const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAWEp8ZAAAAABJRU5ErkJggg==";

    fn report() -> ValidationReport {
        let evil = "data/<script>alert('x')</script>&.tif";
        let mut findings = vec![
            Finding::page(
                FindingKind::Skewed,
                evil,
                2,
                "skewed by 3.5° (counter-clockwise)",
            ),
            Finding::page(
                FindingKind::BlankPage,
                "data/akte_7.tif",
                1,
                "ink covers 0.001 %",
            ),
            Finding::file(
                FindingKind::AlteredFile,
                "data/akte_9.tif",
                "SHA-256 differs",
            ),
            Finding::page(
                FindingKind::LowResolution,
                "data/akte_7.tif",
                4,
                "150 dpi in the file's metadata",
            ),
        ];
        findings[3].item = Some("Akte 61-0815 \"Bau\"".into());
        let mut thumbnails = BTreeMap::new();
        thumbnails.insert(format!("{evil}#2"), PNG.to_string());
        thumbnails.insert("data/akte_7.tif#1".into(), "javascript:alert(1)".into());
        ValidationReport {
            schema_version: 1,
            mailroom_version: "0.1.0".into(),
            delivery: "/srv/abnahme/lieferung_2026-03".into(),
            inventory: Some("/srv/abnahme/bestand.csv".into()),
            profile: "default".into(),
            started: "2026-03-04T10:00:00+01:00".into(),
            finished: "2026-03-04T10:12:30+01:00".into(),
            elapsed_seconds: 750.25,
            lot: LotSummary {
                files: 1234,
                pages: 56789,
                bytes: 12_345_678_901,
            },
            hash: HashSummary {
                bytes: 12_345_678_901,
                seconds: 41.2,
                mb_per_second: 299.6,
            },
            sampling: Some(SamplingSummary {
                inspection_level: "II".into(),
                aql: 0.65,
                lot_size: 56789,
                code_letter: 'N',
                sample_size: 500,
                accept: 7,
                reject: 8,
                seed: 42,
                sampled: vec![PageRef {
                    file: "data/akte_7.tif".into(),
                    page: 1,
                }],
                nonconforming: 2,
            }),
            decision: Decision::Reject,
            reasons: vec!["A file was altered: data/akte_9.tif <b>".into()],
            findings,
            thumbnails,
        }
    }

    #[test]
    fn text_is_escaped() {
        let html = render(&report());
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(html.contains("data/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;.tif"));
        assert!(html.contains("Akte 61-0815 &quot;Bau&quot;"));
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn every_finding_and_the_decision_appear() {
        let r = report();
        let html = render(&r);
        for f in &r.findings {
            assert!(html.contains(&escape(&f.detail)), "{}", f.detail);
            assert!(html.contains(label(f.kind)));
            assert!(html.contains(&format!("id=\"{}\"", key(f.kind))));
        }
        assert!(html.contains("Abgelehnt"));
        assert!(html.contains("class=\"decision reject\""));
        assert!(html.contains("A file was altered: data/akte_9.tif &lt;b&gt;"));
        // the plan's numbers
        for s in [
            "0,65",
            ">N<",
            "500 Seiten",
            "7 / 8",
            "42",
            "56.789",
            "299,6 MB/s",
        ] {
            assert!(html.contains(s), "{s}");
        }
        let mut accepted = r.clone();
        accepted.decision = Decision::Accept;
        accepted.findings.clear();
        let html = render(&accepted);
        assert!(html.contains("Angenommen") && !html.contains("Abgelehnt"));
        assert!(html.contains("Keine Befunde."));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html
            .contains("<title>Abnahmeprüfung lieferung_2026-03 – 2026-03-04 – Angenommen</title>"));
    }

    #[test]
    fn thumbnails_are_embedded_next_to_their_findings() {
        let html = render(&report());
        assert_eq!(html.matches("<img ").count(), 1, "only the PNG data URI");
        assert!(html.contains(&format!("<img src=\"{PNG}\"")));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("Vorschaubild nicht verfügbar"));
        let figure = &html[html.find("<figure>").unwrap()..];
        assert!(figure.contains("skewed by 3.5°"));
        // no external resources at all
        for s in ["http:", "https:", "<link", "<script", "@import", "url("] {
            assert!(!html.contains(s), "{s}");
        }
    }

    #[test]
    fn numbers_read_german() {
        assert_eq!(de_int(0), "0");
        assert_eq!(de_int(999), "999");
        assert_eq!(de_int(1000), "1.000");
        assert_eq!(de_int(12_345_678_901), "12.345.678.901");
        assert_eq!(de_num(1234.56, 1), "1.234,6");
        assert_eq!(de_num(-0.04, 1), "0,0");
        assert_eq!(de_bytes(512), "512 Bytes");
        assert_eq!(de_bytes(1_572_864), "1.572.864 Bytes (1,5 MiB)");
        assert_eq!(de_aql(0.65), "0,65");
        assert_eq!(de_aql(1.0), "1,0");
        assert_eq!(date_of("2026-03-04T10:00:00Z"), "2026-03-04");
        assert_eq!(date_of("gestern"), "gestern");
    }
}
