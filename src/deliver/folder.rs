//! The folder target, the default: each document's PDF and JSON go into a folder per
//! organisation unit, written so that a reader never sees a partial file (temporary
//! name, fsync, rename, fsync of the folder). Optionally an enaio XML-import index file
//! (DMSData) beside each pair, for a hot folder that enaio's `dms.XMLImport` job reads.
//!
//! Layout under the target folder: `<unit code>/`, `_clarification/`, `_unopened/`
//! (confidential mail for hand delivery); with routing off, the folder itself. The JSON
//! is written after the PDF and the index file last, so a consumer that waits for the
//! last file of a pair sees a complete pair.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::journal::sync_dir;
use super::{DeliveryError, Destination, Parcel, Receipt, Target};
use crate::clock::Utc;
use crate::fsutil::sha256_file;
use crate::package::pdf::xml_escape;

/// `[delivery.folder]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FolderSettings {
    /// Where to deliver; a relative path lies inside the run's output folder.
    pub path: PathBuf,
    /// Write a DMSData index file (`<id>.xml`) for enaio's XML import beside each PDF.
    pub dmsdata: bool,
    /// DMSData: the archive (cabinet) internal name.
    pub archive: String,
    /// DMSData: object type for documents whose unit names none.
    pub object_type: String,
    /// DMSData: the index field that holds the mailroom id (the import's search key,
    /// which makes a repeated import an update, not a second document).
    pub id_field: String,
    /// DMSData: index field (internal name) -> mailroom field (see `mailroom profile`).
    pub fields: BTreeMap<String, String>,
}

impl Default for FolderSettings {
    fn default() -> Self {
        FolderSettings {
            path: PathBuf::from("delivered"),
            dmsdata: false,
            archive: "Posteingang".into(),
            object_type: "Eingangspost".into(),
            id_field: "mailroomId".into(),
            fields: BTreeMap::new(),
        }
    }
}

pub struct FolderTarget {
    root: PathBuf,
    settings: FolderSettings,
}

impl FolderTarget {
    pub fn new(settings: &FolderSettings, out: &Path) -> FolderTarget {
        FolderTarget {
            root: out.join(&settings.path),
            settings: settings.clone(),
        }
    }

    /// The folder a destination's documents go to, relative to the root.
    fn subfolder(destination: &Destination) -> PathBuf {
        match destination {
            Destination::Unit { code, .. } => PathBuf::from(safe_name(code)),
            Destination::Clarification => PathBuf::from("_clarification"),
            Destination::Unopened => PathBuf::from("_unopened"),
            Destination::Unrouted => PathBuf::new(),
        }
    }

    /// The files of a parcel in the order they are written: (source or content, name).
    fn names(&self, parcel: &Parcel) -> (PathBuf, String) {
        (
            Self::subfolder(parcel.destination),
            parcel.record.id.clone(),
        )
    }

    fn receipt(&self, rel_pdf: &Path) -> Receipt {
        Receipt {
            target: self.describe(),
            object_id: rel_pdf.display().to_string(),
            time: Utc::now().rfc3339(),
        }
    }
}

impl Target for FolderTarget {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn check(&self) -> Result<(), DeliveryError> {
        fs::create_dir_all(&self.root).map_err(|e| {
            DeliveryError::fatal(format!("cannot create {}: {e}", self.root.display()))
        })
    }

    fn takes(&self, _destination: &Destination) -> bool {
        true
    }

    fn find(&self, parcel: &Parcel) -> Result<Option<Receipt>, DeliveryError> {
        let (sub, id) = self.names(parcel);
        let dir = self.root.join(&sub);
        let last = if self.settings.dmsdata {
            dir.join(format!("{id}.xml"))
        } else {
            dir.join(format!("{id}.json"))
        };
        let pdf = dir.join(format!("{id}.pdf"));
        if !last.is_file() || !pdf.is_file() {
            return Ok(None);
        }
        let want = parcel.record.pdf.as_ref().map(|f| f.sha256.as_str());
        match sha256_file(&pdf) {
            Ok(h) if Some(h.as_str()) == want => {
                Ok(Some(self.receipt(&sub.join(format!("{id}.pdf")))))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(DeliveryError::transient(format!(
                "cannot read {}: {e}",
                pdf.display()
            ))),
        }
    }

    fn deliver(&self, parcel: &Parcel) -> Result<Receipt, DeliveryError> {
        let (sub, id) = self.names(parcel);
        let dir = self.root.join(&sub);
        let io = |what: &str, e: std::io::Error| DeliveryError::transient(format!("{what}: {e}"));
        fs::create_dir_all(&dir).map_err(|e| io(&format!("cannot create {}", dir.display()), e))?;
        place(parcel.pdf, &dir.join(format!("{id}.pdf")))
            .map_err(|e| io(&format!("cannot write {id}.pdf into {}", dir.display()), e))?;
        place(parcel.json, &dir.join(format!("{id}.json")))
            .map_err(|e| io(&format!("cannot write {id}.json into {}", dir.display()), e))?;
        if self.settings.dmsdata {
            let xml = dmsdata_xml(&self.settings, parcel, &format!("{id}.pdf"));
            crate::fsutil::write_atomic(&dir.join(format!("{id}.xml")), xml.as_bytes())
                .map_err(|e| DeliveryError::transient(format!("{e:#}")))?;
        }
        sync_dir(&dir).map_err(|e| DeliveryError::transient(format!("{e:#}")))?;
        Ok(self.receipt(&sub.join(format!("{id}.pdf"))))
    }
}

/// Puts a complete copy of `src` at `dst`: a hard link where the file system allows
/// (no second copy of the bytes), else a copy; under a temporary name, synced, renamed.
/// A temporary file an earlier, killed attempt left is replaced.
fn place(src: &Path, dst: &Path) -> std::io::Result<()> {
    let tmp = crate::fsutil::temp_path(dst).map_err(std::io::Error::other)?;
    let _ = fs::remove_file(&tmp);
    if fs::hard_link(src, &tmp).is_err() {
        fs::copy(src, &tmp)?;
    }
    let result = File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(&tmp, dst));
    // Also after a successful rename: when `dst` is already a hard link to `src` (an
    // earlier attempt placed it, then was killed before the next file), rename() of the
    // temporary link onto it does nothing and leaves the temporary name (POSIX).
    let _ = fs::remove_file(&tmp);
    result
}

/// A unit code as a folder name: letters, digits, `.`, `-`, `_`; others become `_`.
fn safe_name(code: &str) -> String {
    let s: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => s,
    }
}

/// The DMSData index file: object type and archive, the mailroom id as the search key
/// (the import inserts on no hit and updates on one, so a repeated import files nothing
/// twice), and the mapped index fields. The PDF is named by the same stem.
pub fn dmsdata_xml(settings: &FolderSettings, parcel: &Parcel, pdf_name: &str) -> String {
    let object_type = match parcel.destination {
        Destination::Unit { dms: Some(t), .. } => t.object_type.as_str(),
        _ => settings.object_type.as_str(),
    };
    let mut fields = String::new();
    let mut push = |name: &str, value: &str| {
        fields.push_str(&format!(
            "          <Field internal_name=\"{}\">{}</Field>\n",
            xml_escape(name),
            xml_escape(value)
        ));
    };
    push(&settings.id_field, parcel.mailroom_id);
    for (dms_name, ours) in &settings.fields {
        if let Some(v) = parcel.fields.get(ours) {
            push(dms_name, v);
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- mailroom {version}: index data for enaio dms.XMLImport; file: {file} -->\n\
<DMSData>\n  <Archive internal_name=\"{archive}\">\n    <ObjectType type=\"DOCUMENT\" internal_name=\"{object_type}\">\n      <Object>\n        <Search>\n          <Fields>\n            <Field internal_name=\"{id_field}\">{id}</Field>\n          </Fields>\n        </Search>\n        <Fields>\n{fields}        </Fields>\n      </Object>\n    </ObjectType>\n  </Archive>\n</DMSData>\n",
        version = crate::VERSION,
        file = xml_escape(pdf_name).replace("--", "- -"),
        archive = xml_escape(&settings.archive),
        object_type = xml_escape(object_type),
        id_field = xml_escape(&settings.id_field),
        id = xml_escape(parcel.mailroom_id),
        fields = fields.replace("<Field", "  <Field"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placing_a_file_again_over_its_own_hard_link_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.pdf");
        fs::write(&src, b"%PDF-1.7").unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        let dst = target.join("a.pdf");
        // the second time is a resumed delivery: `dst` is already a link to `src`
        for _ in 0..2 {
            place(&src, &dst).unwrap();
            let names: Vec<_> = fs::read_dir(&target)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["a.pdf"]);
            assert_eq!(fs::read(&dst).unwrap(), b"%PDF-1.7");
        }
    }

    #[test]
    fn unit_codes_become_safe_folder_names() {
        assert_eq!(safe_name("50.4"), "50.4");
        assert_eq!(safe_name("../etc"), ".._etc");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name("FB 61/2"), "FB_61_2");
    }

    #[test]
    fn xml_escaping_covers_markup_and_control_characters() {
        assert_eq!(xml_escape("a<b>&\"'\u{1}c"), "a&lt;b&gt;&amp;&quot;&apos;c");
    }
}
