//! The enaio test server (`mailroom-lab dms-server`) as a child process of a test, with
//! the login, document types, folders and index fields the tests use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;

pub const USER: &str = "post";
pub const PASSWORD: &str = "Fr1eden$weg 12";
pub const TYPES: &str = "Posteingang=262146,Gesundheitsakte=262147";
pub const FIELDS: &str = "mailroomId,Dokument,Seiten,Einheit,PdfHash,Eingangsdatum";

/// One `mailroom-lab dms-server` process; killed when dropped.
pub struct DmsServer {
    child: Child,
    pub url: String,
    pub state: PathBuf,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
    pub http: Client,
}

impl DmsServer {
    /// A server with the login, the two document types, folders FB10, Abt504 and POST
    /// and the known index fields; `extra` adds flags (e.g. `--faults`).
    pub fn start(extra: &[&str]) -> DmsServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DmsServer::start_in(&dir.path().join("state"), extra);
        s._dir = Some(dir);
        s
    }

    /// A server on a given state folder (kept by the caller).
    pub fn start_in(state: &Path, extra: &[&str]) -> DmsServer {
        DmsServer::start_with_login(state, USER, PASSWORD, extra)
    }

    /// A server on a given state folder with its own login (a test that greps its
    /// output for a distinctive password).
    pub fn start_with_login(state: &Path, user: &str, password: &str, extra: &[&str]) -> DmsServer {
        let parent = state.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let pw = parent.join("server-password");
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        let log = parent.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom-lab"))
            .args(["dms-server", "--port", "0", "--state"])
            .arg(state)
            .args(["--user", user, "--password-file"])
            .arg(&pw)
            .args(["--types", TYPES, "--folder-type", "Ordner=6"])
            .args(["--folder-field", "Kennung", "--parents", "FB10,Abt504,POST"])
            .args(["--fields", FIELDS])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("cannot start mailroom-lab dms-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "the server did not say where it listens: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        DmsServer {
            child,
            url,
            state: state.to_path_buf(),
            log,
            _dir: None,
            http: mailroom::deliver::http::client(Duration::from_secs(20), None).unwrap(),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.url)).send().unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    /// Every stored document, as `/_test/objects` lists it.
    pub fn objects(&self) -> Vec<Value> {
        self.get("/_test/objects").as_array().unwrap().clone()
    }

    pub fn folder_id(&self, key: &str) -> String {
        self.get("/_test/folders")
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fields"]["Kennung"] == key)
            .unwrap_or_else(|| panic!("no folder {key}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn content(&self, id: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!("{}/_test/objects/{id}/content", self.url))
            .send()
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().unwrap().to_vec()
    }

    pub fn set_faults(&self, spec: &str) {
        let r = self
            .http
            .post(format!("{}/_test/faults", self.url))
            .body(spec.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }

    /// Requests of a kind (`insert`, `search`, `info`, `all`) the server counted.
    pub fn requests(&self, kind: &str) -> u64 {
        self.get("/_test/stats")["requests"][kind]
            .as_u64()
            .unwrap_or(0)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DmsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
