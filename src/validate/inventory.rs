//! The inventory of a delivery: which Akten (files) the city ordered, where each one is
//! in the bag and how many pages it has, checked against the payload.
//!
//! # Format
//!
//! A CSV file as offices write it: UTF-8 with or without BOM; the separator (`;`, `,` or
//! tab) is the one the header line uses most (outside quotes; on a tie `;`, then tab,
//! then `,`); fields quoted as RFC 4180 says (separators, doubled quotes and line breaks
//! inside quotes); CRLF or LF. Header names are matched case-insensitively (spaces and
//! `-` count as `_`):
//!
//! | role        | names                        |                                        |
//! |-------------|------------------------------|----------------------------------------|
//! | Akte id     | `akte`, `id`, `file_id`      | required, unique                       |
//! | path(s)     | `pfad`, `path`, `datei`, `file` | required; several separated by `|`  |
//! | page count  | `seiten`, `pages`, `page_count` | optional column; an empty cell: unknown |
//!
//! Every other column goes to [`InventoryItem::meta`] under its header name. Paths are
//! relative to `data/` or to the bag (`data/...`), with `/` or `\`; they are normalised
//! to `data/...`. An absolute path or one with `..` is an error, as are a path listed
//! twice, an id listed twice and a page count that is not a whole number (German
//! thousands points, `1.234`, are accepted). Every error names the line (the physical
//! line where the record starts). Empty lines and rows of empty cells are skipped.
//!
//! ```text
//! akte;pfad;seiten;titel
//! BA-1987-00001;BA-1987-00001.tif;12;Bauakte Bohlweg 3, Gemarkung Querum
//! BP-1994-00002;data/BP-1994-00002.tif|data/BP-1994-00002-Karten.pdf;40;"Bebauungsplan ""Holzmoor-Nord""; Band 2"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{Finding, FindingKind, PayloadFile};

/// One row of the inventory: an Akte and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryItem {
    pub id: String,
    /// Bag-relative paths (`data/...`), in the order given.
    pub paths: Vec<String>,
    /// Expected pages over all its paths; none when the inventory does not say.
    pub pages: Option<usize>,
    /// The other columns, by header name as written (trimmed).
    pub meta: BTreeMap<String, String>,
}

/// Reads and checks an inventory CSV (see the module documentation).
pub fn read_inventory(path: &Path) -> Result<Vec<InventoryItem>> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow!("cannot read the inventory {}: {e}", path.display()))?;
    parse_inventory(&bytes, &path.display().to_string())
}

/// Parses inventory bytes; `name` starts every error message.
pub fn parse_inventory(bytes: &[u8], name: &str) -> Result<Vec<InventoryItem>> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        bail!("{name} is UTF-16; save it as CSV UTF-8");
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        anyhow!(
            "{name} line {line}: not UTF-8 (saved as Windows-1252/ANSI?); save the inventory \
             as CSV UTF-8"
        )
    })?;
    let separator = detect_separator(text);
    let records = split_records(text, separator)
        .map_err(|(line, why)| anyhow!("{name} line {line}: {why}"))?;
    let mut records = records.into_iter().filter(|r| !r.is_blank());
    let Some(header) = records.next() else {
        bail!("{name} is empty: no header line");
    };
    let columns = Columns::from_header(&header)
        .map_err(|why| anyhow!("{name} line {}: {why}", header.line))?;

    let mut items: Vec<InventoryItem> = Vec::new();
    let mut id_lines: HashMap<String, usize> = HashMap::new();
    let mut path_owners: HashMap<String, (String, usize)> = HashMap::new();
    for record in records {
        let line = record.line;
        let fail = |why: String| anyhow!("{name} line {line}: {why}");
        if record.fields.len() > columns.names.len()
            && record.fields[columns.names.len()..]
                .iter()
                .any(|f| !f.trim().is_empty())
        {
            return Err(fail(format!(
                "{} fields, but the header has {} columns",
                record.fields.len(),
                columns.names.len()
            )));
        }
        let cell = |index: usize| record.fields.get(index).map_or("", |f| f.trim());
        let id = cell(columns.id).to_string();
        if id.is_empty() {
            return Err(fail(format!(
                "no Akte id (column {:?})",
                columns.names[columns.id]
            )));
        }
        if let Some(first) = id_lines.insert(id.clone(), line) {
            return Err(fail(format!(
                "Akte {id} is listed twice (also on line {first})"
            )));
        }
        let mut paths = Vec::new();
        for raw in cell(columns.path)
            .split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let path = normalise_path(raw)
                .map_err(|why| fail(format!("path {raw:?} of Akte {id}: {why}")))?;
            if let Some((owner, owner_line)) = path_owners.get(&path) {
                return Err(fail(format!(
                    "{path} of Akte {id} is already listed for Akte {owner} (line {owner_line})"
                )));
            }
            path_owners.insert(path.clone(), (id.clone(), line));
            paths.push(path);
        }
        if paths.is_empty() {
            return Err(fail(format!(
                "Akte {id} has no path (column {:?})",
                columns.names[columns.path]
            )));
        }
        let pages = match columns.pages.map(cell) {
            None | Some("") => None,
            Some(text) => Some(parse_count(text).ok_or_else(|| {
                fail(format!(
                    "page count {text:?} of Akte {id} is not a whole number"
                ))
            })?),
        };
        let mut meta = BTreeMap::new();
        for (index, name) in columns.names.iter().enumerate() {
            if Some(index) == columns.pages || index == columns.id || index == columns.path {
                continue;
            }
            let key = if name.is_empty() {
                format!("column {}", index + 1)
            } else {
                name.clone()
            };
            meta.insert(key, cell(index).to_string());
        }
        items.push(InventoryItem {
            id,
            paths,
            pages,
            meta,
        });
    }
    Ok(items)
}

/// A record of the CSV and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
struct Record {
    line: usize,
    fields: Vec<String>,
}

impl Record {
    fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// The separator the header line (up to the first line break outside quotes) uses most.
fn detect_separator(text: &str) -> char {
    let mut counts = [(';', 0usize), ('\t', 0), (',', 0)];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' | '\r' if !quoted => break,
            _ if !quoted => {
                if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == c) {
                    entry.1 += 1;
                }
            }
            _ => {}
        }
    }
    // max_by_key returns the last maximum; scan in reverse so a tie goes to the first.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(';', |(s, _)| *s)
}

/// Splits CSV text into records (RFC 4180). Errors carry the line.
fn split_records(text: &str, separator: char) -> Result<Vec<Record>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    // Whether the current field started with a quote, and whether that quote is open.
    let mut quoted = false;
    let mut open = false;
    let mut quote_line = 1;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if open {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => open = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                '\r' => {
                    if chars.peek() != Some(&'\n') {
                        line += 1;
                    }
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                open = true;
                quote_line = line;
                at_field_start = false;
            }
            c if c == separator => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
                at_field_start = true;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                fields.push(std::mem::take(&mut field));
                records.push(Record {
                    line: record_line,
                    fields: std::mem::take(&mut fields),
                });
                line += 1;
                record_line = line;
                quoted = false;
                at_field_start = true;
            }
            _ if quoted => {
                if !c.is_whitespace() {
                    return Err((
                        line,
                        format!("{c:?} after the closing quote of a field (quotes inside a quoted field are doubled: \"\")"),
                    ));
                }
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if open {
        return Err((
            quote_line,
            "a quoted field opened here is never closed".to_string(),
        ));
    }
    if !at_field_start || !fields.is_empty() || quoted {
        fields.push(field);
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// Where the roles are in the header.
struct Columns {
    /// Header names as written, trimmed.
    names: Vec<String>,
    id: usize,
    path: usize,
    pages: Option<usize>,
}

const ID_NAMES: [&str; 3] = ["akte", "id", "file_id"];
const PATH_NAMES: [&str; 4] = ["pfad", "path", "datei", "file"];
const PAGES_NAMES: [&str; 3] = ["seiten", "pages", "page_count"];

impl Columns {
    fn from_header(header: &Record) -> Result<Columns, String> {
        let names: Vec<String> = header.fields.iter().map(|f| f.trim().to_string()).collect();
        let mut id = None;
        let mut path = None;
        let mut pages = None;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, name) in names.iter().enumerate() {
            let key: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c == ' ' || c == '-' { '_' } else { c })
                .collect();
            if key.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(key.clone(), index) {
                return Err(format!(
                    "columns {} and {} are both named {name:?}",
                    first + 1,
                    index + 1
                ));
            }
            for (names_of_role, slot, role) in [
                (&ID_NAMES[..], &mut id, "the Akte id"),
                (&PATH_NAMES[..], &mut path, "the path"),
                (&PAGES_NAMES[..], &mut pages, "the page count"),
            ] {
                if names_of_role.contains(&key.as_str()) {
                    if let Some(other) = *slot {
                        return Err(format!(
                            "columns {:?} and {name:?} both give {role}",
                            names[other]
                        ));
                    }
                    *slot = Some(index);
                }
            }
        }
        let missing = |role: &str, aliases: &[&str]| {
            format!(
                "no column for {role} ({}); the header has: {}",
                aliases.join(", "),
                names.join(" | ")
            )
        };
        let id = id.ok_or_else(|| missing("the Akte id", &ID_NAMES))?;
        let path = path.ok_or_else(|| missing("the path", &PATH_NAMES))?;
        Ok(Columns {
            names,
            id,
            path,
            pages,
        })
    }
}

/// A path of the inventory as a bag-relative `data/...` path.
fn normalise_path(raw: &str) -> Result<String, String> {
    let path = raw.trim().replace('\\', "/");
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if path.starts_with('/') || drive {
        return Err("an absolute path; give it relative to data/ or to the bag".into());
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("'..' is not allowed (paths stay inside the bag)".into());
    }
    let parts = match parts.split_first() {
        Some((&"data", rest)) => rest,
        _ => &parts[..],
    };
    if parts.is_empty() {
        return Err("names no file".into());
    }
    Ok(format!("data/{}", parts.join("/")))
}

/// A page count: digits, maybe grouped by thousands points (`1.234`).
fn parse_count(text: &str) -> Option<usize> {
    let grouped = text.contains('.');
    if grouped {
        let mut groups = text.split('.');
        let first = groups.next()?;
        if first.is_empty() || first.len() > 3 || groups.any(|g| g.len() != 3) {
            return None;
        }
    }
    let digits: String = text.chars().filter(|&c| c != '.').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The pages of a payload file: TIFF frames (every page of a multi-page TIFF, via the
/// ingest probe), 1 for PNG and JPEG, the page tree of a PDF. The error is the reason the
/// file cannot be read (without the path).
pub fn count_pages(path: &Path) -> Result<usize> {
    use std::io::Read;
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .and_then(|f| f.take(8).read_to_end(&mut head))
        .map_err(|e| anyhow!("cannot read file: {e}"))?;
    if head.starts_with(b"%PDF-") {
        let doc = lopdf::Document::load(path).map_err(|e| anyhow!("unreadable PDF: {e}"))?;
        let pages = doc.get_pages().len();
        if pages == 0 {
            bail!("PDF without pages");
        }
        return Ok(pages);
    }
    let candidate = crate::ingest::Candidate::file(path, path.display().to_string());
    // Only counting: no page size is too large here.
    let limits = crate::ingest::Limits {
        max_pixels: u64::MAX,
        assume_dpi: 300,
    };
    let source = crate::ingest::probe(&candidate, limits).map_err(|e| anyhow!("{e}"))?;
    Ok(source.frames.len())
}

/// Checks the inventory against the payload: files ordered but not delivered, delivered
/// but not ordered, page counts (summed over an Akte's files) against the inventory,
/// the same content under two files, and files whose pages cannot be counted. `pages`
/// holds the page count (or why it failed) of payload files by bag-relative path; an
/// Akte with a file not delivered or not counted is not compared.
pub fn reconcile(
    items: &[InventoryItem],
    payload: &[PayloadFile],
    pages: &BTreeMap<String, Result<usize, String>>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let delivered: BTreeMap<&str, &PayloadFile> =
        payload.iter().map(|f| (f.rel.as_str(), f)).collect();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for item in items {
        for path in &item.paths {
            owner.entry(path.as_str()).or_insert(item.id.as_str());
        }
    }
    let with_item = |mut finding: Finding, item: Option<&str>| {
        finding.item = item.map(str::to_string);
        finding
    };

    for item in items {
        let mut complete = true;
        let mut counted = Vec::new();
        for path in &item.paths {
            if !delivered.contains_key(path.as_str()) {
                complete = false;
                let mut detail = format!(
                    "the inventory lists it for Akte {}; it is not in the delivery",
                    item.id
                );
                let lower = path.to_lowercase();
                if let Some(other) = delivered.keys().find(|rel| rel.to_lowercase() == lower) {
                    detail.push_str(&format!(" (the delivery has {other}: the case differs)"));
                }
                findings.push(with_item(
                    Finding::file(FindingKind::NotDelivered, path, detail),
                    Some(&item.id),
                ));
                continue;
            }
            match pages.get(path) {
                Some(Ok(n)) => counted.push((path.as_str(), *n)),
                _ => complete = false,
            }
        }
        let (Some(expected), true) = (item.pages, complete) else {
            continue;
        };
        let found: usize = counted.iter().map(|(_, n)| n).sum();
        if found != expected {
            let mut finding = if let [path] = item.paths.as_slice() {
                Finding::file(
                    FindingKind::PageCountMismatch,
                    path,
                    format!("the inventory says {expected} pages, the file has {found}"),
                )
            } else {
                let parts: Vec<String> = counted.iter().map(|(p, n)| format!("{p} {n}")).collect();
                Finding {
                    kind: FindingKind::PageCountMismatch,
                    file: None,
                    page: None,
                    item: None,
                    detail: format!(
                        "the inventory says {expected} pages, its {} files have {found} ({})",
                        counted.len(),
                        parts.join(", ")
                    ),
                }
            };
            finding.item = Some(item.id.clone());
            findings.push(finding);
        }
    }

    let mut sorted: Vec<&PayloadFile> = payload.iter().collect();
    sorted.sort_by(|a, b| a.rel.cmp(&b.rel));
    let mut first_with_hash: HashMap<&str, &PayloadFile> = HashMap::new();
    for file in sorted {
        let item = owner.get(file.rel.as_str()).copied();
        if item.is_none() {
            findings.push(Finding::file(
                FindingKind::NotOrdered,
                &file.rel,
                "in the delivery but in no row of the inventory",
            ));
        }
        if let Some(Err(why)) = pages.get(&file.rel) {
            findings.push(with_item(
                Finding::file(
                    FindingKind::Unreadable,
                    &file.rel,
                    format!("its pages cannot be counted: {why}"),
                ),
                item,
            ));
        }
        // Empty files all share one hash; they are unreadable, not copies of each other.
        if file.bytes == 0 {
            continue;
        }
        match first_with_hash.get(file.sha256.as_str()) {
            Some(original) => {
                let of = owner
                    .get(original.rel.as_str())
                    .map_or(String::new(), |id| format!(" (Akte {id})"));
                findings.push(with_item(
                    Finding::file(
                        FindingKind::DuplicateFile,
                        &file.rel,
                        format!(
                            "the same content (SHA-256 {}...) as {}{of}",
                            &file.sha256[..file.sha256.len().min(16)],
                            original.rel
                        ),
                    ),
                    item,
                ));
            }
            None => {
                first_with_hash.insert(&file.sha256, file);
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<InventoryItem>> {
        parse_inventory(text.as_bytes(), "inventory.csv")
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    fn payload(rel: &str, sha: &str, bytes: u64) -> PayloadFile {
        PayloadFile {
            rel: rel.into(),
            bytes,
            sha256: sha.into(),
        }
    }

    fn item(id: &str, paths: &[&str], pages: Option<usize>) -> InventoryItem {
        InventoryItem {
            id: id.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            pages,
            meta: BTreeMap::new(),
        }
    }

    fn counts(list: &[(&str, Result<usize, String>)]) -> BTreeMap<String, Result<usize, String>> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn an_office_csv_with_bom_quotes_umlauts_and_crlf_is_read() {
        let text = "\u{feff}Akte;Pfad;Seiten;Titel;Bemerkung\r\n\
            BA-1987-00001;BA-1987-00001.tif;12;Bauakte Bohlweg 3;\r\n\
            Ä-Müller-7;data/Ä-Müller-7.tif;3;\"Gewerbeakte Müller; Band 2\";ok\r\n\
            \r\n\
            ;;;;\r\n\
            BP-1994-00002;./karten\\BP 1.pdf | BP-1994-00002.tif;1.234;\"Plan \"\"Holzmoor\"\"\";\r\n";
        let items = parse(text).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].id, "BA-1987-00001");
        assert_eq!(items[0].paths, vec!["data/BA-1987-00001.tif"]);
        assert_eq!(items[0].pages, Some(12));
        assert_eq!(items[0].meta["Titel"], "Bauakte Bohlweg 3");
        assert_eq!(items[0].meta["Bemerkung"], "");
        assert_eq!(items[1].id, "Ä-Müller-7");
        assert_eq!(items[1].paths, vec!["data/Ä-Müller-7.tif"]);
        assert_eq!(items[1].meta["Titel"], "Gewerbeakte Müller; Band 2");
        assert_eq!(items[1].meta["Bemerkung"], "ok");
        assert_eq!(
            items[2].paths,
            vec!["data/karten/BP 1.pdf", "data/BP-1994-00002.tif"]
        );
        assert_eq!(items[2].pages, Some(1234));
        assert_eq!(items[2].meta["Titel"], "Plan \"Holzmoor\"");
        assert!(!items[2].meta.contains_key("Seiten"));
    }

    #[test]
    fn separator_comes_from_the_header_and_english_names_work() {
        let comma = "ID,File,Page Count,Title\nA1,a1.tif,2,\"Akte; mit Semikolon, und Komma\"\n";
        let items = parse(comma).unwrap();
        assert_eq!(items[0].paths, vec!["data/a1.tif"]);
        assert_eq!(items[0].pages, Some(2));
        assert_eq!(items[0].meta["Title"], "Akte; mit Semikolon, und Komma");
        let tab = "file_id\tpath\tpages\nA1\tdata/x/a1.tif\t\n";
        let items = parse(tab).unwrap();
        assert_eq!(
            (items[0].paths[0].as_str(), items[0].pages),
            ("data/x/a1.tif", None)
        );
        // A comma inside a quoted header name does not count.
        let semi = "akte;datei;\"Titel, lang\"\nA1;a1.tif;x, y\n";
        assert_eq!(parse(semi).unwrap()[0].meta["Titel, lang"], "x, y");
        // No separator: one column, so no path column.
        assert!(error("akte\nA1\n").contains("no column for the path"));
        assert_eq!(detect_separator("a;b,c,d\n"), ',');
        assert_eq!(detect_separator("a;b\tc,d\n"), ';');
    }

    #[test]
    fn line_breaks_inside_quotes_keep_the_line_numbers_right() {
        let text = "akte;pfad;titel\nA1;a1.tif;\"erste Zeile\r\nzweite Zeile\"\nA2;../a2.tif;x\n";
        let e = error(text);
        assert!(e.starts_with("inventory.csv line 4: "), "{e}");
        assert!(e.contains("'..'") && e.contains("A2"), "{e}");
        let ok = "akte;pfad;titel\nA1;a1.tif;\"erste Zeile\nzweite Zeile\"\n";
        assert_eq!(
            parse(ok).unwrap()[0].meta["titel"],
            "erste Zeile\nzweite Zeile"
        );
    }

    #[test]
    fn bad_rows_are_errors_naming_the_line() {
        let cases = [
            ("akte;pfad\nA1;/etc/passwd\n", "line 2", "absolute"),
            ("akte;pfad\nA1;C:\\Scans\\a.tif\n", "line 2", "absolute"),
            ("akte;pfad\nA1;data/../../x.tif\n", "line 2", "'..'"),
            ("akte;pfad\nA1;data/\n", "line 2", "names no file"),
            ("akte;pfad\n;a.tif\n", "line 2", "no Akte id"),
            ("akte;pfad\nA1; \n", "line 2", "has no path"),
            (
                "akte;pfad\nA1;a.tif\nA1;b.tif\n",
                "line 3",
                "listed twice (also on line 2)",
            ),
            (
                "akte;pfad\nA1;a.tif\nA2;data/a.tif\n",
                "line 3",
                "already listed for Akte A1",
            ),
            ("akte;pfad;seiten\nA1;a.tif;zwölf\n", "line 2", "\"zwölf\""),
            (
                "akte;pfad;seiten\nA1;a.tif;-3\n",
                "line 2",
                "not a whole number",
            ),
            (
                "akte;pfad;seiten\nA1;a.tif;1.23\n",
                "line 2",
                "not a whole number",
            ),
            (
                "akte;pfad\nA1;a.tif;surplus\n",
                "line 2",
                "3 fields, but the header has 2",
            ),
            (
                "akte;pfad\nA1;\"a.tif\n\nA2;b.tif\n",
                "line 2",
                "never closed",
            ),
            (
                "akte;pfad\nA1;\"a.tif\"x\n",
                "line 2",
                "after the closing quote",
            ),
            (
                "titel;pfad\nA1;a.tif\n",
                "line 1",
                "no column for the Akte id",
            ),
            (
                "akte;id;pfad\nA1;1;a.tif\n",
                "line 1",
                "both give the Akte id",
            ),
            ("akte;pfad;Pfad\nA1;a.tif;b.tif\n", "line 1", "both named"),
        ];
        for (text, line, why) in cases {
            let e = error(text);
            assert!(
                e.contains(&format!("inventory.csv {line}:")),
                "{text:?}: {e}"
            );
            assert!(e.contains(why), "{text:?}: {e}");
        }
        // Surplus empty fields (a spreadsheet's trailing separators) are fine.
        assert_eq!(parse("akte;pfad\nA1;a.tif;;\n").unwrap().len(), 1);
    }

    #[test]
    fn encodings_other_than_utf8_and_empty_files_are_refused() {
        let latin1 = b"akte;pfad;titel\nA1;a.tif;M\xfcller\n";
        let e = format!("{:#}", parse_inventory(latin1, "inv.csv").unwrap_err());
        assert!(e.contains("inv.csv line 2: not UTF-8"), "{e}");
        let utf16 = b"\xff\xfea\x00";
        let e = format!("{:#}", parse_inventory(utf16, "inv.csv").unwrap_err());
        assert!(e.contains("UTF-16"), "{e}");
        assert!(error("").contains("no header line"));
        assert!(error("\u{feff}\r\n").contains("no header line"));
        assert_eq!(parse("akte;pfad\r\n").unwrap(), vec![]);
    }

    #[test]
    fn counts_are_plain_or_grouped_by_thousands() {
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("17"), Some(17));
        assert_eq!(parse_count("1.234"), Some(1234));
        assert_eq!(parse_count("12.345.678"), Some(12_345_678));
        for bad in ["", "1,5", "1.2", ".123", "1234.567.8", "x", "+3"] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn read_inventory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inventar.csv");
        std::fs::write(&path, "akte;pfad\nA1;../x.tif\n").unwrap();
        let e = format!("{:#}", read_inventory(&path).unwrap_err());
        assert!(e.contains("inventar.csv line 2"), "{e}");
        std::fs::write(&path, "akte;pfad\nA1;x.tif\n").unwrap();
        assert_eq!(read_inventory(&path).unwrap()[0].paths, vec!["data/x.tif"]);
        let e = format!(
            "{:#}",
            read_inventory(&dir.path().join("nope.csv")).unwrap_err()
        );
        assert!(e.contains("cannot read the inventory"), "{e}");
    }

    fn tiff_pages(n: usize) -> Vec<u8> {
        use tiff::encoder::{colortype, TiffEncoder};
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut buf).unwrap();
            for i in 0..n {
                let data = vec![(i * 40) as u8; 16 * 8];
                enc.write_image::<colortype::Gray8>(16, 8, &data).unwrap();
            }
        }
        buf.into_inner()
    }

    fn pdf_pages(n: usize) -> Vec<u8> {
        use lopdf::{dictionary, Document, Object};
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let kids: Vec<Object> = (0..n)
            .map(|_| {
                let page = dictionary! {
                    "Type" => "Page",
                    "Parent" => pages_id,
                    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                };
                doc.add_object(page).into()
            })
            .collect();
        let pages = dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => n as i64 };
        doc.objects.insert(pages_id, Object::Dictionary(pages));
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn pages_are_counted_per_format_and_broken_files_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let tif = tiff_pages(3);
        assert_eq!(count_pages(&write("a.tif", &tif)).unwrap(), 3);
        let mut png = Vec::new();
        image::GrayImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(count_pages(&write("b.png", &png)).unwrap(), 1);
        let mut jpg = Vec::new();
        image::GrayImage::new(4, 4)
            .write_to(
                &mut std::io::Cursor::new(&mut jpg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        assert_eq!(count_pages(&write("c.jpg", &jpg)).unwrap(), 1);
        assert_eq!(count_pages(&write("d.pdf", &pdf_pages(4))).unwrap(), 4);

        let broken: [(&str, &[u8], &str); 5] = [
            ("e.pdf", b"%PDF-1.7\nkein PDF", "unreadable PDF"),
            ("f.txt", b"Bitte an FB 61", "unknown format"),
            ("g.tif", b"", "empty"),
            ("h.tif", &tif[..tif.len() - 40], "TIFF"),
            ("i.pdf", &pdf_pages(0), "PDF without pages"),
        ];
        for (name, bytes, why) in broken {
            let e = count_pages(&write(name, bytes)).unwrap_err().to_string();
            assert!(e.contains(why), "{name}: {e}");
        }
        let e = count_pages(&dir.path().join("nope.tif"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read file"), "{e}");
    }

    #[test]
    fn a_matching_delivery_gives_no_findings() {
        let items = [
            item("Ä-1", &["data/ä1.tif"], Some(3)),
            item("B-2", &["data/b2a.tif", "data/b2b.pdf"], Some(5)),
            item("C-3", &["data/c3.tif"], None),
        ];
        let files = [
            payload("data/ä1.tif", "aa", 10),
            payload("data/b2a.tif", "bb", 10),
            payload("data/b2b.pdf", "cc", 10),
            payload("data/c3.tif", "dd", 10),
        ];
        let pages = counts(&[
            ("data/ä1.tif", Ok(3)),
            ("data/b2a.tif", Ok(2)),
            ("data/b2b.pdf", Ok(3)),
            ("data/c3.tif", Ok(7)),
        ]);
        assert_eq!(reconcile(&items, &files, &pages), vec![]);
    }

    #[test]
    fn not_delivered_and_not_ordered_files_are_found() {
        let items = [
            item("Müller-1", &["data/Müller-1.tif"], Some(2)),
            item("B-2", &["data/b2.TIF"], Some(2)),
        ];
        let files = [
            payload("data/b2.tif", "bb", 10),
            payload("data/zz.tif", "cc", 10),
        ];
        let pages = counts(&[("data/b2.tif", Ok(2)), ("data/zz.tif", Ok(1))]);
        let findings = reconcile(&items, &files, &pages);
        let kinds: Vec<(FindingKind, Option<&str>, Option<&str>)> = findings
            .iter()
            .map(|f| (f.kind, f.file.as_deref(), f.item.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    FindingKind::NotDelivered,
                    Some("data/Müller-1.tif"),
                    Some("Müller-1")
                ),
                (FindingKind::NotDelivered, Some("data/b2.TIF"), Some("B-2")),
                (FindingKind::NotOrdered, Some("data/b2.tif"), None),
                (FindingKind::NotOrdered, Some("data/zz.tif"), None),
            ]
        );
        assert!(
            findings[1].detail.contains("the delivery has data/b2.tif"),
            "{}",
            findings[1].detail
        );
        assert!(
            !findings[0].detail.contains("case"),
            "{}",
            findings[0].detail
        );
    }

    #[test]
    fn page_counts_are_compared_over_all_files_of_an_akte() {
        let items = [
            item("Ö-1", &["data/o1.tif"], Some(12)),
            item("P-2", &["data/p2a.tif", "data/p2b.pdf"], Some(6)),
            // One file missing: no page comparison (NotDelivered says it).
            item("Q-3", &["data/q3a.tif", "data/q3b.tif"], Some(99)),
            // One file unreadable: no page comparison (Unreadable says it).
            item("R-4", &["data/r4.tif"], Some(1)),
        ];
        let files = [
            payload("data/o1.tif", "1", 10),
            payload("data/p2a.tif", "2", 10),
            payload("data/p2b.pdf", "3", 10),
            payload("data/q3a.tif", "4", 10),
            payload("data/r4.tif", "5", 10),
        ];
        let pages = counts(&[
            ("data/o1.tif", Ok(11)),
            ("data/p2a.tif", Ok(2)),
            ("data/p2b.pdf", Ok(3)),
            ("data/q3a.tif", Ok(1)),
            (
                "data/r4.tif",
                Err("truncated TIFF: the file ends inside page 2".into()),
            ),
        ]);
        let findings = reconcile(&items, &files, &pages);
        assert_eq!(findings.len(), 4, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(
            (f.kind, f.file.as_deref(), f.item.as_deref()),
            (
                FindingKind::PageCountMismatch,
                Some("data/o1.tif"),
                Some("Ö-1")
            )
        );
        assert_eq!(f.detail, "the inventory says 12 pages, the file has 11");
        let f = &findings[1];
        assert_eq!(
            (f.kind, f.file.as_deref(), f.item.as_deref()),
            (FindingKind::PageCountMismatch, None, Some("P-2"))
        );
        assert!(
            f.detail.contains("says 6 pages, its 2 files have 5"),
            "{}",
            f.detail
        );
        assert!(
            f.detail.contains("data/p2a.tif 2, data/p2b.pdf 3"),
            "{}",
            f.detail
        );
        assert_eq!(
            (findings[2].kind, findings[2].file.as_deref()),
            (FindingKind::NotDelivered, Some("data/q3b.tif"))
        );
        let f = &findings[3];
        assert_eq!(
            (f.kind, f.file.as_deref(), f.item.as_deref()),
            (FindingKind::Unreadable, Some("data/r4.tif"), Some("R-4"))
        );
        assert!(f.detail.contains("truncated TIFF"), "{}", f.detail);
    }

    #[test]
    fn every_extra_copy_of_a_file_is_a_duplicate_naming_the_first() {
        let items = [
            item("A", &["data/a.tif"], None),
            item("B", &["data/b.tif"], None),
            item("C", &["data/c.tif"], None),
        ];
        let files = [
            payload("data/c.tif", "same", 10),
            payload("data/a.tif", "same", 10),
            payload("data/b.tif", "same", 10),
            payload("data/e1.tif", "e3b0", 0),
            payload("data/e2.tif", "e3b0", 0),
        ];
        let findings: Vec<Finding> = reconcile(&items, &files, &BTreeMap::new())
            .into_iter()
            .filter(|f| f.kind == FindingKind::DuplicateFile)
            .collect();
        assert_eq!(findings.len(), 2, "{findings:#?}");
        for (finding, (copy, id)) in findings
            .iter()
            .zip([("data/b.tif", "B"), ("data/c.tif", "C")])
        {
            assert_eq!(finding.file.as_deref(), Some(copy));
            assert_eq!(finding.item.as_deref(), Some(id));
            assert!(
                finding.detail.contains("as data/a.tif (Akte A)"),
                "{}",
                finding.detail
            );
        }
    }
}
