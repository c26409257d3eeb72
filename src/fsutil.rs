//! File-system helpers shared by every writer: atomic writes and hashing.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The temporary name a file is written under before it is renamed into place:
/// `.<name>.tmp` beside it, hidden, and clearly not a finished file. The name is the same
/// for every writer of `path`, so a run that resumes after a crash writes over the
/// temporary file the killed run left instead of leaving it behind.
pub fn temp_path(path: &Path) -> Result<std::path::PathBuf> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent folder", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    Ok(dir.join(format!(".{}.tmp", name.to_string_lossy())))
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new
/// one, never a partial file: write to a temporary sibling, fsync, rename over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> Result<()> {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies `src` to `dst` as `write_atomic` writes: under the temporary name, fsynced,
/// renamed, so that `dst` is never a partial copy.
pub fn copy_atomic(src: &Path, dst: &Path) -> Result<()> {
    let mut source = File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    copy_atomic_from(&mut source, dst)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))
}

/// Copies what `source` holds (an open file) to `dst` as [`copy_atomic`] does: opened
/// first, so a caller can tell a source it cannot read from a destination it cannot write.
pub fn copy_atomic_from(source: &mut File, dst: &Path) -> Result<()> {
    let tmp = temp_path(dst)?;
    let result = (|| -> Result<()> {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        std::io::copy(source, &mut f)
            .with_context(|| format!("cannot copy into {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        fs::rename(&tmp, dst)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), dst.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An absolute form of a path for reports (as given if it cannot be resolved).
pub fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of a file, read in blocks (constant memory).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind");
    }

    #[test]
    fn a_temporary_file_left_by_a_killed_writer_is_taken_over_not_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        // what a writer killed between create and rename leaves
        fs::write(temp_path(&p).unwrap(), b"{\"half").unwrap();
        assert_eq!(temp_path(&p).unwrap(), dir.path().join(".report.json.tmp"));
        write_atomic(&p, b"{}").unwrap();
        let src = dir.path().join("a.pdf");
        fs::write(&src, b"%PDF").unwrap();
        let q = dir.path().join("q.pdf");
        fs::write(temp_path(&q).unwrap(), b"%PD").unwrap();
        copy_atomic(&src, &q).unwrap();
        assert_eq!(fs::read(&q).unwrap(), b"%PDF");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.pdf", "q.pdf", "report.json"]);
    }
}
