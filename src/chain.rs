//! The batch's hash chain: one link per document, in document order, each over the
//! SHA-256 of the document's JSON record (which holds the hashes of its PDF, its
//! evidence PDF and its source pages) and the previous link. Changing, removing,
//! adding or reordering a document's record changes every later link; `mailroom verify`
//! recomputes the chain and every file hash.
//!
//! `link = SHA-256("mailroom-chain/1\n" + previous + "\n" + document id + "\n" + record hash)`,
//! hex; the first `previous` is the SHA-256 of `"mailroom-chain/1\n" + run id`.

use serde::{Deserialize, Serialize};

use crate::fsutil::sha256_hex;

const TAG: &str = "mailroom-chain/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    pub document: String,
    /// SHA-256 of the document's JSON file as written.
    pub record_sha256: String,
    /// The previous link (or the chain's start).
    pub previous: String,
    pub hash: String,
}

/// The start of a run's chain.
pub fn start(run_id: &str) -> String {
    sha256_hex(format!("{TAG}\n{run_id}").as_bytes())
}

pub fn link(previous: &str, document: &str, record_sha256: &str) -> String {
    sha256_hex(format!("{TAG}\n{previous}\n{document}\n{record_sha256}").as_bytes())
}

/// Builds the chain over `(document id, record hash)` in the given order.
pub fn build(run_id: &str, records: &[(String, String)]) -> Vec<ChainLink> {
    let mut previous = start(run_id);
    records
        .iter()
        .map(|(document, record_sha256)| {
            let hash = link(&previous, document, record_sha256);
            ChainLink {
                document: document.clone(),
                record_sha256: record_sha256.clone(),
                previous: std::mem::replace(&mut previous, hash.clone()),
                hash,
            }
        })
        .collect()
}

/// The last link, or the start for a run without documents.
pub fn head(run_id: &str, chain: &[ChainLink]) -> String {
    chain
        .last()
        .map(|l| l.hash.clone())
        .unwrap_or_else(|| start(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_later_link_depends_on_an_earlier_record() {
        let recs = |b: &str| {
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), b.to_string()),
                ("c".to_string(), "3".to_string()),
            ]
        };
        let one = build("run", &recs("2"));
        let two = build("run", &recs("X"));
        assert_eq!(one[0], two[0]);
        assert_ne!(one[1].hash, two[1].hash);
        assert_ne!(one[2].hash, two[2].hash);
        assert_eq!(one[1].previous, one[0].hash);
        assert_eq!(one[0].previous, start("run"));
        assert_ne!(build("other", &recs("2"))[0].hash, one[0].hash);
        assert_eq!(head("run", &one), one[2].hash);
        assert_eq!(head("run", &[]), start("run"));
    }
}
