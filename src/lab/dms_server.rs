//! A test server that speaks enaio's two REST APIs the way the contract describes them,
//! as a real HTTP process (`mailroom-lab dms-server`), so that the enaio target is tested
//! against requests on the wire, not against mocks.
//!
//! It serves
//! - the DMS service: `POST /api/dms/objects` (multipart insert) and
//!   `POST /api/dms/objects/search` (statements of the form
//!   `SELECT <columns> FROM <type> WHERE <field>=@param` or `='literal'`);
//! - OSRest: `POST /osrest/api/documents/insert/{locationId}`,
//!   `GET /osrest/api/documents/search/{id}` (404 for an unknown id),
//!   `POST /osrest/api/documents/search` (by object type and field values) and
//!   `GET /osrest/api/serviceinfo`;
//! - for tests only, outside any enaio API, without authentication: `GET /_test/objects`,
//!   `GET /_test/objects/{id}/content`, `GET /_test/folders`, `GET /_test/stats` and
//!   `GET`/`POST /_test/faults`.
//!
//! It refuses what enaio would refuse: a missing or wrong HTTP Basic login (401), a body
//! that is not multipart (415), wrong part names, a content part without `Content-ID` or
//! with one that does not match its `contentStreams[].cid`, a `data` part that is not
//! JSON (its type in the DMS service: 415) or not of the documented shape (400), and with
//! 422 and a message: unknown object types, parents and (with `--fields`) index fields,
//! system properties a client cannot set, and content that is not a PDF. It does not
//! refuse a second document with the same mailroom id: catching duplicates is the
//! tests' job.
//!
//! Every stored document (type, parent, index fields, file name, SHA-256 and size of the
//! content) is in `<state>/index.json`, written atomically before the answer; the content
//! is in `<state>/content/<id>`. A restart on the same state folder keeps everything.
//!
//! Faults (`--faults`, or `POST /_test/faults` with the same text, which also restarts
//! the counting) make the Nth request of a kind fail in a chosen way; see [`FaultPlan`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tiny_http::{Header, Method, Request, Response};

use crate::clock::Utc;
use crate::fsutil::{sha256_hex, write_atomic};

/// Largest request body taken (a scanned letter is a few MB).
const MAX_BODY: u64 = 256 << 20;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// Folder for the index and the content files (created).
    pub state: PathBuf,
    /// User and password every API request must log in with (HTTP Basic); none: no login.
    pub login: Option<(String, String)>,
    /// Document types.
    pub types: Vec<ObjectType>,
    /// The folder type the parents are of, and its key field.
    pub folder_type: ObjectType,
    pub folder_field: String,
    /// Keys of the folders to create (each gets an object id), e.g. `FB10`.
    pub parents: Vec<String>,
    /// The index fields documents may have; `None`: any.
    pub fields: Option<Vec<String>>,
    pub faults: FaultPlan,
}

/// An object type: internal name and numeric id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectType {
    pub name: String,
    pub id: String,
}

impl ObjectType {
    /// `Name[=ID],...`; types without an id are numbered from `first_id`.
    pub fn parse_list(s: &str, first_id: u64) -> Result<Vec<ObjectType>> {
        let mut out: Vec<ObjectType> = Vec::new();
        for (i, item) in s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            let (name, id) = match item.split_once('=') {
                Some((n, id)) => (n.trim(), id.trim().to_string()),
                None => (item, (first_id + i as u64).to_string()),
            };
            if name.is_empty() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                bail!("{item:?} is not an object type (Name or Name=numeric id)");
            }
            if out.iter().any(|t| t.name == name || t.id == id) {
                bail!("object type {name} (id {id}) is given twice");
            }
            out.push(ObjectType {
                name: name.to_string(),
                id,
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

/// Which requests a fault rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Document inserts, either API.
    Insert,
    /// Searches, either API (OSRest's lookup by id too).
    Search,
    /// OSRest's serviceinfo.
    Info,
    /// Every API request (not the `/_test` ones).
    All,
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer this status at once (message "injected fault"), with `Retry-After` if
    /// given; nothing is stored.
    Status { code: u16, retry_after: Option<u64> },
    /// Store (process the request), then hold the answer this many ms: the client times
    /// out without knowing that the document was filed.
    Timeout(u64),
    /// Wait this many ms, then store and answer (a server that commits late: a lookup
    /// made meanwhile finds nothing).
    LateStore(u64),
    /// Store, then break the connection instead of answering.
    ResetAfterStore,
    /// Break the connection without processing the request.
    Reset,
    /// Store, then answer 200 without the new object's id (or, for a search, without
    /// the result list).
    OkWithoutId,
    /// Wait this many ms, then go on as usual (adds to any other fault).
    Slow(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub kind: Kind,
    /// The n-th request of the kind (1-based); `None`: every one.
    pub nth: Option<u64>,
    pub action: Action,
}

/// A fault plan, written as a comma list of `KIND[#N]=ACTION`:
/// KIND is `insert`, `search`, `info` or `all`; `#N` picks the N-th such request (counted
/// from the start, or from the last `POST /_test/faults`), without it every one.
/// ACTION is `STATUS[:retry-after=SECONDS]` (e.g. `503:retry-after=1`, `422`),
/// `timeout[:MS]` (default 30000), `late-store[:MS]` (default 3000), `reset-after-store`,
/// `reset`, `ok-without-id` or `slow:MS`.
/// Example: `insert#2=500,insert#3=503:retry-after=1,insert#5=timeout:4000,all=slow:200`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    pub spec: String,
}

impl FaultPlan {
    pub fn parse(spec: &str) -> Result<FaultPlan> {
        let mut rules = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (target, action) = item
                .split_once('=')
                .with_context(|| format!("fault {item:?}: expected KIND[#N]=ACTION"))?;
            let (kind, nth) = match target.split_once('#') {
                Some((k, n)) => (
                    k,
                    Some(
                        n.parse::<u64>()
                            .ok()
                            .filter(|n| *n >= 1)
                            .with_context(|| format!("fault {item:?}: #N must be 1 or more"))?,
                    ),
                ),
                None => (target, None),
            };
            let kind = match kind.trim() {
                "insert" => Kind::Insert,
                "search" => Kind::Search,
                "info" => Kind::Info,
                "all" => Kind::All,
                other => {
                    bail!("fault {item:?}: unknown kind {other:?} (insert, search, info, all)")
                }
            };
            let action = parse_action(action.trim()).with_context(|| format!("fault {item:?}"))?;
            rules.push(FaultRule { kind, nth, action });
        }
        Ok(FaultPlan {
            rules,
            spec: spec.trim().to_string(),
        })
    }

    /// The actions for a request that is the `n`-th of its kind and the `n_all`-th of all.
    fn actions(&self, kind: Kind, n: u64, n_all: u64) -> Vec<Action> {
        self.rules
            .iter()
            .filter(|r| {
                let count = if r.kind == Kind::All { n_all } else { n };
                (r.kind == kind || r.kind == Kind::All) && r.nth.is_none_or(|k| k == count)
            })
            .map(|r| r.action.clone())
            .collect()
    }
}

fn parse_action(s: &str) -> Result<Action> {
    let (name, arg) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    let ms = |default: Option<u64>| -> Result<u64> {
        match arg {
            Some(a) => a
                .parse::<u64>()
                .with_context(|| format!("{a:?} is not a number of milliseconds")),
            None => default.with_context(|| format!("{name} needs :MS")),
        }
    };
    Ok(match name {
        "timeout" => Action::Timeout(ms(Some(30_000))?),
        "late-store" => Action::LateStore(ms(Some(3_000))?),
        "slow" => Action::Slow(ms(None)?),
        "reset-after-store" | "reset" | "ok-without-id" if arg.is_some() => {
            bail!("{name} takes no argument")
        }
        "reset-after-store" => Action::ResetAfterStore,
        "reset" => Action::Reset,
        "ok-without-id" => Action::OkWithoutId,
        code => {
            let code: u16 = code
                .parse()
                .ok()
                .filter(|c| (400..=599).contains(c))
                .with_context(|| {
                    format!(
                        "unknown action {s:?} (a status 400-599, timeout, late-store, \
                         reset-after-store, reset, ok-without-id, slow:MS)"
                    )
                })?;
            let retry_after = match arg {
                None => None,
                Some(a) => Some(
                    a.strip_prefix("retry-after=")
                        .and_then(|v| v.parse::<u64>().ok())
                        .with_context(|| format!("{a:?}: expected retry-after=SECONDS"))?,
                ),
            };
            Action::Status { code, retry_after }
        }
    })
}

#[derive(Default)]
struct Faults {
    plan: FaultPlan,
    counts: BTreeMap<Kind, u64>,
}

impl Faults {
    fn next(&mut self, kind: Kind) -> Vec<Action> {
        let n = {
            let c = self.counts.entry(kind).or_insert(0);
            *c += 1;
            *c
        };
        let n_all = {
            let c = self.counts.entry(Kind::All).or_insert(0);
            *c += 1;
            *c
        };
        self.plan.actions(kind, n, n_all)
    }
}

// ---------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------

/// One object: a seeded folder or an inserted document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredObject {
    pub id: String,
    pub object_type: String,
    pub object_type_id: String,
    /// The parent folder's id (documents).
    pub parent: Option<String>,
    /// The parent folder's key (documents), for readers of `/_test/objects`.
    pub parent_key: Option<String>,
    /// Index fields, by internal name.
    pub fields: BTreeMap<String, Value>,
    /// `dms` or `osrest`: which API filed it (documents).
    pub api: Option<String>,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    next_id: u64,
    folders: Vec<StoredObject>,
    documents: Vec<StoredObject>,
}

struct Store {
    dir: PathBuf,
    index: Index,
}

impl Store {
    fn open(dir: &Path, folder_type: &ObjectType, field: &str, keys: &[String]) -> Result<Store> {
        std::fs::create_dir_all(dir.join("content"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("index.json");
        let mut index: Index = if path.exists() {
            serde_json::from_slice(&std::fs::read(&path)?)
                .with_context(|| format!("{} is not a dms-server index", path.display()))?
        } else {
            Index {
                next_id: 1000,
                ..Index::default()
            }
        };
        let mut store = Store {
            dir: dir.to_path_buf(),
            index: Index::default(),
        };
        for key in keys {
            let known = index
                .folders
                .iter()
                .any(|f| f.fields.get(field).and_then(Value::as_str) == Some(key.as_str()));
            if !known {
                let id = index.next_id.to_string();
                index.next_id += 1;
                index.folders.push(StoredObject {
                    id,
                    object_type: folder_type.name.clone(),
                    object_type_id: folder_type.id.clone(),
                    parent: None,
                    parent_key: None,
                    fields: [(field.to_string(), Value::String(key.clone()))].into(),
                    api: None,
                    file_name: None,
                    mime_type: None,
                    sha256: None,
                    size: None,
                    created: Utc::now().rfc3339(),
                });
            }
        }
        store.index = index;
        store.save()?;
        Ok(store)
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_vec_pretty(&self.index)?;
        write_atomic(&self.dir.join("index.json"), &text)?;
        crate::deliver::journal::sync_dir(&self.dir)
    }

    fn content_path(&self, id: &str) -> PathBuf {
        self.dir.join("content").join(id)
    }

    /// Files a document: content first, then the index; both synced before this returns.
    fn insert(&mut self, mut doc: StoredObject, content: Option<&[u8]>) -> Result<StoredObject> {
        doc.id = self.index.next_id.to_string();
        if let Some(bytes) = content {
            write_atomic(&self.content_path(&doc.id), bytes)?;
            crate::deliver::journal::sync_dir(&self.dir.join("content"))?;
        }
        self.index.next_id += 1;
        self.index.documents.push(doc.clone());
        if let Err(e) = self.save() {
            self.index.documents.pop();
            return Err(e);
        }
        Ok(doc)
    }

    fn folder(&self, id: &str) -> Option<&StoredObject> {
        self.index.folders.iter().find(|f| f.id == id)
    }

    fn all(&self) -> impl Iterator<Item = &StoredObject> {
        self.index.folders.iter().chain(self.index.documents.iter())
    }
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

/// An answer before it is sent.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }
    fn text(status: u16, s: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: s.into().into_bytes(),
            headers: Vec::new(),
        }
    }
    /// A refusal: status and a message, as JSON.
    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            &json!({
                "status": status,
                "error": reason_phrase(status),
                "message": message.into(),
            }),
        )
    }
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

type Answer = std::result::Result<Reply, Reply>;

fn fail(status: u16, message: impl Into<String>) -> Reply {
    Reply::error(status, message)
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

struct Server {
    config: ServerConfig,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
}

/// What a request asks for.
enum Route {
    DmsInsert,
    DmsSearch,
    OsrestInsert(Option<String>),
    OsrestGet(String),
    OsrestSearch,
    OsrestInfo,
    TestObjects,
    TestContent(String),
    TestFolders,
    TestStats,
    TestFaults,
    WrongMethod,
    Unknown,
}

fn route(method: &Method, path: &str) -> Route {
    let post = *method == Method::Post;
    let get = *method == Method::Get;
    let want = |ok: bool, r: Route| if ok { r } else { Route::WrongMethod };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segs.as_slice() {
        ["api", "dms", "objects"] => want(post, Route::DmsInsert),
        ["api", "dms", "objects", "search"] => want(post, Route::DmsSearch),
        ["osrest", "api", "documents", "insert"] => want(post, Route::OsrestInsert(None)),
        ["osrest", "api", "documents", "insert", loc] => {
            want(post, Route::OsrestInsert(Some(percent_decode(loc))))
        }
        ["osrest", "api", "documents", "search"] => want(post, Route::OsrestSearch),
        ["osrest", "api", "documents", "search", id] => {
            want(get, Route::OsrestGet(percent_decode(id)))
        }
        ["osrest", "api", "serviceinfo"] => want(get, Route::OsrestInfo),
        ["_test", "objects"] => want(get, Route::TestObjects),
        ["_test", "objects", id, "content"] => want(get, Route::TestContent(id.to_string())),
        ["_test", "folders"] => want(get, Route::TestFolders),
        ["_test", "stats"] => want(get, Route::TestStats),
        ["_test", "faults"] => want(post || get, Route::TestFaults),
        _ => Route::Unknown,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Binds 127.0.0.1:`port`, prints `listening on http://127.0.0.1:PORT` on stdout, and
/// serves until the process is killed.
pub fn run(config: ServerConfig) -> Result<()> {
    let store = Store::open(
        &config.state,
        &config.folder_type,
        &config.folder_field,
        &config.parents,
    )?;
    let http = tiny_http::Server::http(("127.0.0.1", config.port))
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{}: {e}", config.port))?;
    let port = http
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .context("the server has no IP address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://127.0.0.1:{port}")?;
        out.flush()?;
    }
    eprintln!(
        "dms-server: state {}, document types {}, folder type {}={} (key field {})",
        config.state.display(),
        config
            .types
            .iter()
            .map(|t| format!("{}={}", t.name, t.id))
            .collect::<Vec<_>>()
            .join(", "),
        config.folder_type.name,
        config.folder_type.id,
        config.folder_field
    );
    for f in &store.index.folders {
        eprintln!(
            "dms-server: folder {} = {}",
            f.fields
                .get(&config.folder_field)
                .map(value_text)
                .unwrap_or_default(),
            f.id
        );
    }
    let server = Arc::new(Server {
        faults: Mutex::new(Faults {
            plan: config.faults.clone(),
            counts: BTreeMap::new(),
        }),
        config,
        store: Mutex::new(store),
    });
    for request in http.incoming_requests() {
        let server = Arc::clone(&server);
        std::thread::spawn(move || server.handle(request));
    }
    Ok(())
}

impl Server {
    fn handle(&self, mut request: Request) {
        let method = request.method().clone();
        let url = request.url().to_string();
        let path = url.split('?').next().unwrap_or("").to_string();
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let content_type = header("Content-Type");
        let authorization = header("Authorization");
        let mut body = Vec::new();
        let read = request
            .as_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body);
        let route = route(&method, &path);
        let kind = match route {
            Route::DmsInsert | Route::OsrestInsert(_) => Some(Kind::Insert),
            Route::DmsSearch | Route::OsrestSearch | Route::OsrestGet(_) => Some(Kind::Search),
            Route::OsrestInfo => Some(Kind::Info),
            _ => None,
        };
        let reply = if read.is_err() {
            fail(400, "cannot read the request body")
        } else if body.len() as u64 > MAX_BODY {
            fail(413, "request body too large")
        } else if kind.is_some() && !self.logged_in(authorization.as_deref()) {
            let mut r = fail(401, "missing or wrong login (HTTP Basic)");
            r.headers
                .push(("WWW-Authenticate", "Basic realm=\"enaio\"".to_string()));
            r
        } else if let Some(kind) = kind {
            let actions = self.faults.lock().expect("faults").next(kind);
            match self.api(&route, content_type.as_deref(), &body, &actions) {
                Some(reply) => reply,
                None => {
                    eprintln!("dms-server: {method} {path} -> connection broken (fault)");
                    break_connection(request);
                    return;
                }
            }
        } else {
            self.test_endpoint(&route, &method, &body)
        };
        eprintln!("dms-server: {method} {path} -> {}", reply.status);
        let mut response = Response::from_data(reply.body).with_status_code(reply.status);
        if let Ok(h) = Header::from_bytes("Content-Type", reply.content_type) {
            response = response.with_header(h);
        }
        for (name, value) in reply.headers {
            if let Ok(h) = Header::from_bytes(name, value.as_bytes()) {
                response = response.with_header(h);
            }
        }
        let _ = request.respond(response);
    }

    fn logged_in(&self, authorization: Option<&str>) -> bool {
        let Some((user, password)) = &self.config.login else {
            return true;
        };
        let Some(given) = authorization else {
            return false;
        };
        let mut it = given.trim().splitn(2, ' ');
        let scheme = it.next().unwrap_or("");
        let token = it.next().unwrap_or("").trim();
        scheme.eq_ignore_ascii_case("basic")
            && token == base64_encode(format!("{user}:{password}").as_bytes())
    }

    /// An enaio API request with its fault actions; `None`: break the connection.
    fn api(
        &self,
        route: &Route,
        content_type: Option<&str>,
        body: &[u8],
        actions: &[Action],
    ) -> Option<Reply> {
        let mut decisive = None;
        for a in actions {
            match a {
                Action::Slow(ms) => std::thread::sleep(Duration::from_millis(*ms)),
                other if decisive.is_none() => decisive = Some(other.clone()),
                _ => {}
            }
        }
        match decisive {
            Some(Action::Status { code, retry_after }) => {
                let mut r = fail(code, format!("injected fault: HTTP {code}"));
                if let Some(s) = retry_after {
                    r.headers.push(("Retry-After", s.to_string()));
                }
                return Some(r);
            }
            Some(Action::Reset) => return None,
            Some(Action::LateStore(ms)) => std::thread::sleep(Duration::from_millis(ms)),
            _ => {}
        }
        let reply = self
            .process(route, content_type, body)
            .unwrap_or_else(|e| e);
        if !reply.ok() {
            return Some(reply);
        }
        match decisive {
            Some(Action::Timeout(ms)) => {
                std::thread::sleep(Duration::from_millis(ms));
                Some(reply)
            }
            Some(Action::ResetAfterStore) => None,
            Some(Action::OkWithoutId) => Some(match route {
                Route::DmsInsert => Reply::json(200, &json!({ "objects": [] })),
                Route::OsrestInsert(_) => Reply::text(200, ""),
                _ => Reply::json(200, &json!({})),
            }),
            _ => Some(reply),
        }
    }

    fn process(&self, route: &Route, content_type: Option<&str>, body: &[u8]) -> Answer {
        match route {
            Route::DmsInsert => self.dms_insert(content_type, body),
            Route::DmsSearch => self.dms_search(content_type, body),
            Route::OsrestInsert(loc) => self.osrest_insert(loc.as_deref(), content_type, body),
            Route::OsrestGet(id) => {
                let store = self.store.lock().expect("store");
                let obj = store
                    .all()
                    .find(|o| &o.id == id)
                    .ok_or_else(|| fail(404, format!("no object with id {id}")))?;
                Ok(Reply::json(200, &self.osrest_object(obj)))
            }
            Route::OsrestSearch => self.osrest_search(body),
            Route::OsrestInfo => Ok(Reply::json(
                200,
                &json!({
                    "server": "mailroom-lab dms-server (enaio test server)",
                    "version": crate::VERSION,
                    "apis": ["dms", "osrest"],
                }),
            )),
            _ => Err(fail(404, "not found")),
        }
    }

    fn doc_type(&self, name_or_id: &str) -> Option<&ObjectType> {
        self.config
            .types
            .iter()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }

    fn is_folder_type(&self, name_or_id: &str) -> bool {
        self.config.folder_type.name == name_or_id || self.config.folder_type.id == name_or_id
    }

    /// Files a checked document: its index fields must be known (with `--fields`), its
    /// content a PDF, its parent an existing folder. Stored (synced) before this returns.
    fn file(&self, doc: NewDocument, api: &str) -> std::result::Result<StoredObject, Reply> {
        if let Some(known) = &self.config.fields {
            if let Some(n) = doc.fields.keys().find(|n| !known.contains(n)) {
                return Err(fail(422, format!("unknown index field {n}")));
            }
        }
        if let Some(c) = &doc.content {
            check_pdf(c.data, &c.mime)?;
        }
        let mut store = self.store.lock().expect("store");
        let parent_id = doc.parent.ok_or_else(|| {
            fail(
                422,
                format!(
                    "documents of type {} need a parent (a folder or register)",
                    doc.object_type.name
                ),
            )
        })?;
        let folder = store
            .folder(&parent_id)
            .ok_or_else(|| fail(422, format!("parent {parent_id} not found")))?;
        let parent_key = folder.fields.get(&self.config.folder_field).map(value_text);
        let stored = StoredObject {
            id: String::new(),
            object_type: doc.object_type.name,
            object_type_id: doc.object_type.id,
            parent: Some(parent_id),
            parent_key,
            fields: doc.fields,
            api: Some(api.to_string()),
            file_name: doc.content.as_ref().and_then(|c| c.file_name.clone()),
            mime_type: doc.content.as_ref().map(|c| c.mime.clone()),
            sha256: doc.content.as_ref().map(|c| sha256_hex(c.data)),
            size: doc.content.as_ref().map(|c| c.data.len() as u64),
            created: Utc::now().rfc3339(),
        };
        store
            .insert(stored, doc.content.as_ref().map(|c| c.data))
            .map_err(|e| fail(500, format!("cannot store the document: {e:#}")))
    }

    // -- DMS service --------------------------------------------------------------------

    /// `POST /api/dms/objects`: a part `data` (application/json) with one object, its
    /// content in the part named after `contentStreams[0].cid` with that `Content-ID`.
    fn dms_insert(&self, content_type: Option<&str>, body: &[u8]) -> Answer {
        let parts = multipart(content_type, body)?;
        let data = only_part(&parts, "data")?;
        let json_typed = data
            .content_type
            .as_deref()
            .is_some_and(|t| media_type(t) == "application/json");
        if !json_typed {
            let given = data.content_type.as_deref().unwrap_or("untyped");
            return Err(fail(
                415,
                format!("part `data` must be application/json, not {given}"),
            ));
        }
        let v: Value = serde_json::from_slice(&data.data)
            .map_err(|e| fail(400, format!("part `data` is not JSON: {e}")))?;
        let objects = v
            .get("objects")
            .and_then(Value::as_array)
            .ok_or_else(|| fail(400, "`data` must be {\"objects\":[...]}"))?;
        let [object] = objects.as_slice() else {
            let n = objects.len();
            return Err(fail(
                400,
                format!("`data.objects` holds {n} objects; this test server files one per request"),
            ));
        };
        let props = object
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| fail(400, "objects[0].properties must be an object"))?;
        let mut fields = values(props, "property")?;
        let type_name = fields
            .remove("system:objectTypeId")
            .map(|v| value_text(&v))
            .ok_or_else(|| fail(400, "missing property system:objectTypeId"))?;
        let parent = fields.remove("system:parentId").map(|v| value_text(&v));
        if let Some(n) = fields.keys().find(|n| n.starts_with("system:")) {
            return Err(fail(422, format!("system property {n} cannot be set")));
        }
        if self.is_folder_type(&type_name) {
            return Err(fail(
                422,
                format!("{type_name} is a folder type; this server files documents only"),
            ));
        }
        let object_type = self
            .doc_type(&type_name)
            .ok_or_else(|| fail(422, format!("unknown object type {type_name}")))?
            .clone();
        let content = dms_content(object, &parts)?;
        let doc = self.file(
            NewDocument {
                object_type,
                parent,
                fields,
                content,
            },
            "dms",
        )?;
        let mut props = dms_properties(&doc);
        props.insert(
            "system:objectTypeId".into(),
            json!({ "value": doc.object_type_id, "localName": doc.object_type }),
        );
        let mut answer = json!({ "objects": [{ "properties": props }] });
        if let (Some(sha), Some(size)) = (&doc.sha256, doc.size) {
            answer["objects"][0]["contentStreams"] = json!([{
                "mimeType": doc.mime_type,
                "fileName": doc.file_name,
                "length": size,
                "digest": sha,
            }]);
        }
        Ok(Reply::json(200, &answer))
    }

    fn dms_search(&self, content_type: Option<&str>, body: &[u8]) -> Answer {
        let json_typed = content_type.is_some_and(|t| media_type(t) == "application/json");
        if !json_typed {
            return Err(fail(415, "a search must be application/json"));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| fail(400, format!("the search is not JSON: {e}")))?;
        let statement = v
            .pointer("/query/statement")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(400, "missing query.statement"))?;
        let select = parse_statement(statement).map_err(|m| fail(400, m))?;
        let wanted = match &select.value {
            Operand::Literal(s) => s.clone(),
            Operand::Param(p) => v
                .pointer("/query/parameters")
                .and_then(|ps| ps.get(p))
                .filter(|x| !x.is_object() && !x.is_array() && !x.is_null())
                .map(value_text)
                .ok_or_else(|| fail(400, format!("missing query.parameters.{p}")))?,
        };
        let folder = self.is_folder_type(&select.from);
        if !folder && self.doc_type(&select.from).is_none() {
            return Err(fail(422, format!("unknown object type {}", select.from)));
        }
        let known = |f: &String| {
            f.starts_with("system:")
                || f == "*"
                || if folder {
                    f == &self.config.folder_field
                } else {
                    self.config.fields.as_ref().is_none_or(|k| k.contains(f))
                }
        };
        for f in select.columns.iter().chain(std::iter::once(&select.field)) {
            if !known(f) {
                return Err(fail(422, format!("unknown field {f} in {}", select.from)));
            }
        }
        let store = self.store.lock().expect("store");
        let hits: Vec<Value> = store
            .all()
            .filter(|o| o.object_type == select.from || o.object_type_id == select.from)
            .filter(|o| property(o, &select.field).is_some_and(|x| value_text(&x) == wanted))
            .map(|o| {
                let all = dms_properties(o);
                let props: Map<String, Value> = if select.columns.iter().any(|c| c == "*") {
                    all
                } else {
                    select
                        .columns
                        .iter()
                        .filter_map(|c| all.get(c).map(|v| (c.clone(), v.clone())))
                        .collect()
                };
                json!({ "properties": props })
            })
            .collect();
        Ok(Reply::json(
            200,
            &json!({
                "objects": hits,
                "numItems": hits.len(),
                "totalNumItems": hits.len(),
                "hasMoreItems": false,
            }),
        ))
    }

    // -- OSRest -------------------------------------------------------------------------

    /// `POST /osrest/api/documents/insert/{locationId}`: parts `data`
    /// (`{"objectTypeId":"<id>","fields":{...}}`) and `file`; answers the new id.
    fn osrest_insert(
        &self,
        location: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let parts = multipart(content_type, body)?;
        if let Some(p) = parts.iter().find(|p| p.name != "data" && p.name != "file") {
            return Err(fail(
                400,
                format!("unexpected part {:?}: parts are `data` and `file`", p.name),
            ));
        }
        let data = only_part(&parts, "data")?;
        let v: Value = serde_json::from_slice(&data.data)
            .map_err(|e| fail(400, format!("part `data` is not JSON: {e}")))?;
        let type_id = v
            .get("objectTypeId")
            .filter(|t| t.is_string() || t.is_number())
            .map(value_text)
            .ok_or_else(|| fail(400, "`data` must have objectTypeId"))?;
        let fields = match v.get("fields") {
            None => BTreeMap::new(),
            Some(f) => values(
                f.as_object()
                    .ok_or_else(|| fail(400, "`data.fields` must be an object"))?,
                "field",
            )?,
        };
        let object_type = self
            .config
            .types
            .iter()
            .find(|t| t.id == type_id)
            .ok_or_else(|| {
                fail(
                    422,
                    format!("unknown objectTypeId {type_id} (OSRest takes the numeric id)"),
                )
            })?
            .clone();
        let content = match parts.iter().filter(|p| p.name == "file").count() {
            0 => None,
            1 => {
                let file = only_part(&parts, "file")?;
                Some(Content {
                    data: &file.data,
                    mime: file
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    file_name: file.file_name.clone(),
                })
            }
            _ => return Err(fail(400, "part `file` is given twice")),
        };
        let doc = self.file(
            NewDocument {
                object_type,
                parent: location.map(str::to_string),
                fields,
                content,
            },
            "osrest",
        )?;
        Ok(Reply::text(200, doc.id))
    }

    fn osrest_search(&self, body: &[u8]) -> Answer {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| fail(400, format!("the search is not JSON: {e}")))?;
        let q = v
            .get("query")
            .and_then(Value::as_object)
            .ok_or_else(|| fail(400, "missing query"))?;
        let type_id = q
            .get("objectTypeId")
            .filter(|t| t.is_string() || t.is_number())
            .map(value_text)
            .ok_or_else(|| fail(400, "missing query.objectTypeId"))?;
        let folder = self.config.folder_type.id == type_id;
        if !folder && !self.config.types.iter().any(|t| t.id == type_id) {
            return Err(fail(422, format!("unknown objectTypeId {type_id}")));
        }
        let mut wanted = Vec::new();
        if let Some(fields) = q.get("fields") {
            let fields = fields
                .as_object()
                .ok_or_else(|| fail(400, "query.fields must be an object"))?;
            for (name, f) in fields {
                let value = f
                    .get("value")
                    .filter(|v| !v.is_object() && !v.is_array())
                    .ok_or_else(|| {
                        fail(
                            400,
                            format!("query field {name} must be {{\"value\": ...}}"),
                        )
                    })?;
                let known = if folder {
                    name == &self.config.folder_field
                } else {
                    self.config.fields.as_ref().is_none_or(|k| k.contains(name))
                };
                if !known {
                    return Err(fail(422, format!("unknown field {name}")));
                }
                wanted.push((name.clone(), value_text(value)));
            }
        }
        let store = self.store.lock().expect("store");
        let hits: Vec<Value> = store
            .all()
            .filter(|o| o.object_type_id == type_id)
            .filter(|o| {
                wanted
                    .iter()
                    .all(|(n, w)| o.fields.get(n).is_some_and(|x| &value_text(x) == w))
            })
            .map(|o| self.osrest_object(o))
            .collect();
        Ok(Reply::json(200, &Value::Array(hits)))
    }

    /// An object as OSRest shows it (the fields this server keeps).
    fn osrest_object(&self, o: &StoredObject) -> Value {
        let folder = o.sha256.is_none() && o.api.is_none();
        let fields: Map<String, Value> = o
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), json!({ "value": v })))
            .collect();
        json!({
            "osid": o.id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(o.id.clone())),
            "objectTypeId": o.object_type_id,
            "internalName": o.object_type,
            "objectType": if folder { "FOLDER" } else { "DOCUMENT" },
            "fields": fields,
        })
    }

    // -- for tests ------------------------------------------------------------------------

    fn test_endpoint(&self, route: &Route, method: &Method, body: &[u8]) -> Reply {
        match route {
            Route::TestObjects => {
                let store = self.store.lock().expect("store");
                Reply::json(200, &json!(store.index.documents))
            }
            Route::TestFolders => {
                let store = self.store.lock().expect("store");
                Reply::json(200, &json!(store.index.folders))
            }
            Route::TestContent(id) => {
                let store = self.store.lock().expect("store");
                let has = store
                    .index
                    .documents
                    .iter()
                    .any(|d| &d.id == id && d.sha256.is_some());
                match has.then(|| std::fs::read(store.content_path(id))) {
                    Some(Ok(bytes)) => Reply {
                        status: 200,
                        content_type: "application/octet-stream",
                        body: bytes,
                        headers: Vec::new(),
                    },
                    Some(Err(e)) => fail(500, format!("cannot read the content of {id}: {e}")),
                    None => fail(404, format!("no document {id} with content")),
                }
            }
            Route::TestStats => {
                let faults = self.faults.lock().expect("faults");
                let counts: Map<String, Value> = faults
                    .counts
                    .iter()
                    .map(|(k, n)| (json!(k).as_str().unwrap_or("?").to_string(), json!(n)))
                    .collect();
                Reply::json(
                    200,
                    &json!({ "requests": counts, "faults": faults.plan.spec }),
                )
            }
            Route::TestFaults if *method == Method::Get => {
                let faults = self.faults.lock().expect("faults");
                Reply::text(200, faults.plan.spec.clone())
            }
            Route::TestFaults => match std::str::from_utf8(body)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .and_then(FaultPlan::parse)
            {
                Ok(plan) => {
                    let mut faults = self.faults.lock().expect("faults");
                    faults.plan = plan;
                    faults.counts.clear();
                    Reply::text(200, faults.plan.spec.clone())
                }
                Err(e) => fail(400, format!("{e:#}")),
            },
            Route::WrongMethod => fail(405, "method not allowed here"),
            _ => fail(404, "not found"),
        }
    }
}

/// A document that passed the API's own checks, before it is filed.
struct NewDocument<'a> {
    object_type: ObjectType,
    /// The parent's object id as the request names it.
    parent: Option<String>,
    fields: BTreeMap<String, Value>,
    content: Option<Content<'a>>,
}

struct Content<'a> {
    data: &'a [u8],
    mime: String,
    file_name: Option<String>,
}

/// The one part of this name.
fn only_part<'a>(parts: &'a [FormPart], name: &str) -> std::result::Result<&'a FormPart, Reply> {
    let mut it = parts.iter().filter(|p| p.name == name);
    match (it.next(), it.next()) {
        (Some(p), None) => Ok(p),
        (None, _) => Err(fail(400, format!("missing part `{name}`"))),
        (Some(_), Some(_)) => Err(fail(400, format!("part `{name}` is given twice"))),
    }
}

/// `{"name": {"value": v}, ...}` as `name -> v`.
fn values(
    map: &Map<String, Value>,
    what: &str,
) -> std::result::Result<BTreeMap<String, Value>, Reply> {
    map.iter()
        .map(|(name, p)| {
            p.as_object()
                .and_then(|o| o.get("value"))
                .filter(|v| !v.is_object())
                .map(|v| (name.clone(), v.clone()))
                .ok_or_else(|| fail(400, format!("{what} {name} must be {{\"value\": ...}}")))
        })
        .collect()
}

/// The content of a DMS-service insert: at most one stream, in the part named after its
/// cid, which carries `Content-ID: <cid>`; no other parts besides `data`.
fn dms_content<'a>(
    object: &Value,
    parts: &'a [FormPart],
) -> std::result::Result<Option<Content<'a>>, Reply> {
    let streams = match object.get("contentStreams") {
        None => &[][..],
        Some(s) => s
            .as_array()
            .ok_or_else(|| fail(400, "objects[0].contentStreams must be a list"))?
            .as_slice(),
    };
    let mut content = None;
    let mut cid = None;
    match streams {
        [] => {}
        [stream] => {
            let c = stream
                .get("cid")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| fail(400, "contentStreams[0].cid is missing"))?;
            let part = parts.iter().find(|p| p.name == c).ok_or_else(|| {
                fail(
                    400,
                    format!("no part named {c:?}: the content part must be named after contentStreams[0].cid"),
                )
            })?;
            let content_id = part
                .content_id
                .as_deref()
                .ok_or_else(|| fail(400, format!("part {c:?} has no Content-ID header")))?;
            let content_id = content_id
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>');
            if content_id != c {
                return Err(fail(
                    400,
                    format!("part {c:?} has Content-ID {content_id:?}, not the cid {c:?}"),
                ));
            }
            let text = |key: &str| stream.get(key).and_then(Value::as_str).map(str::to_string);
            content = Some(Content {
                data: &part.data,
                mime: text("mimeType").unwrap_or_else(|| "application/pdf".into()),
                file_name: text("fileName").or_else(|| part.file_name.clone()),
            });
            cid = Some(c);
        }
        more => {
            return Err(fail(
                400,
                format!("{} content streams: this test server takes one", more.len()),
            ))
        }
    }
    if let Some(extra) = parts
        .iter()
        .find(|p| p.name != "data" && Some(p.name.as_str()) != cid)
    {
        return Err(fail(
            400,
            format!(
                "unexpected part {:?}: parts are `data` and one named after each contentStreams cid",
                extra.name
            ),
        ));
    }
    Ok(content)
}

/// Ends a request without an answer: the client reads something that is not HTTP and
/// drops the connection, as it would on a reset (tiny_http cannot reset a socket itself).
fn break_connection(request: Request) {
    let mut w = request.into_writer();
    let _ = w.write_all(b"\0connection broken by an injected fault\r\n\r\n");
    let _ = w.flush();
}

/// The DMS-service properties of an object, each `{"value": ...}`.
fn dms_properties(o: &StoredObject) -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("system:objectId".into(), json!({ "value": o.id }));
    props.insert(
        "system:objectTypeId".into(),
        json!({ "value": o.object_type }),
    );
    if let Some(p) = &o.parent {
        props.insert("system:parentId".into(), json!({ "value": p }));
    }
    for (k, v) in &o.fields {
        props.insert(k.clone(), json!({ "value": v }));
    }
    props
}

/// A property of an object by name (system properties included).
fn property(o: &StoredObject, name: &str) -> Option<Value> {
    match name {
        "system:objectId" => Some(Value::String(o.id.clone())),
        "system:objectTypeId" => Some(Value::String(o.object_type.clone())),
        "system:parentId" => o.parent.clone().map(Value::String),
        _ => o.fields.get(name).cloned(),
    }
}

/// A JSON scalar as text (strings without quotes).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `type/subtype` of a Content-Type, lower case.
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Content must be a PDF, declared as one.
fn check_pdf(data: &[u8], mime: &str) -> std::result::Result<(), Reply> {
    if !data.starts_with(b"%PDF-") {
        return Err(fail(422, "the content is not a PDF"));
    }
    if media_type(mime) != "application/pdf" {
        return Err(fail(
            422,
            format!("the content is a PDF but declared as {mime}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Search statements
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Operand {
    Param(String),
    Literal(String),
}

#[derive(Debug, PartialEq, Eq)]
struct Select {
    columns: Vec<String>,
    from: String,
    field: String,
    value: Operand,
}

/// `SELECT a, b FROM Type WHERE field=@p` (or `='literal'`): the subset of enaio's query
/// language this server understands.
fn parse_statement(s: &str) -> std::result::Result<Select, String> {
    let re = Regex::new(
        r"(?is)^\s*SELECT\s+(.+?)\s+FROM\s+([\w:.\-]+)\s+WHERE\s+([\w:.\-]+)\s*=\s*(@\w+|'(?:[^']|'')*')\s*$",
    )
    .expect("a valid regex");
    let c = re.captures(s).ok_or_else(|| {
        format!(
            "unsupported statement {s:?}: this test server understands \
             SELECT <columns> FROM <type> WHERE <field>=@<parameter> (or ='<text>')"
        )
    })?;
    let columns: Vec<String> = c[1].split(',').map(|x| x.trim().to_string()).collect();
    if columns.iter().any(|x| {
        x.is_empty()
            || !x
                .chars()
                .all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | ':' | '.' | '-' | '*'))
    }) {
        return Err(format!("unsupported column list {:?}", &c[1]));
    }
    let value = &c[4];
    let value = match value.strip_prefix('@') {
        Some(p) => Operand::Param(p.to_string()),
        None => Operand::Literal(value[1..value.len() - 1].replace("''", "'")),
    };
    Ok(Select {
        columns,
        from: c[2].to_string(),
        field: c[3].to_string(),
        value,
    })
}

// ---------------------------------------------------------------------------------------
// multipart/form-data
// ---------------------------------------------------------------------------------------

/// One part of a multipart body.
#[derive(Debug)]
struct FormPart {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    content_id: Option<String>,
    data: Vec<u8>,
}

fn multipart(content_type: Option<&str>, body: &[u8]) -> std::result::Result<Vec<FormPart>, Reply> {
    let ct = content_type.unwrap_or("");
    if media_type(ct) != "multipart/form-data" {
        return Err(fail(
            415,
            format!(
                "an insert must be multipart/form-data, not {}",
                if ct.is_empty() { "untyped" } else { ct }
            ),
        ));
    }
    let boundary = header_params(ct)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| fail(400, "multipart/form-data without a boundary"))?;
    parse_multipart(&boundary, body)
        .map_err(|m| fail(400, format!("malformed multipart body: {m}")))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_multipart(boundary: &str, body: &[u8]) -> std::result::Result<Vec<FormPart>, String> {
    let delim = format!("--{boundary}").into_bytes();
    let mut next_delim = b"\r\n".to_vec();
    next_delim.extend_from_slice(&delim);
    let mut pos = find(body, &delim).ok_or("no boundary line")? + delim.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            break;
        }
        let rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary line must end with CRLF")?;
        pos += 2;
        let (head, start) = if rest.starts_with(b"\r\n") {
            ("", pos + 2)
        } else {
            let end = find(rest, b"\r\n\r\n").ok_or("part headers do not end")?;
            let head =
                std::str::from_utf8(&rest[..end]).map_err(|_| "part headers are not UTF-8")?;
            (head, pos + end + 4)
        };
        let len =
            find(&body[start..], &next_delim).ok_or("a part is not closed by the boundary")?;
        let data = body[start..start + len].to_vec();
        pos = start + len + next_delim.len();

        let mut part = FormPart {
            name: String::new(),
            file_name: None,
            content_type: None,
            content_id: None,
            data,
        };
        let mut disposition = false;
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("part header {line:?} has no colon"))?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    if !value.to_ascii_lowercase().starts_with("form-data") {
                        return Err(format!("Content-Disposition {value:?} is not form-data"));
                    }
                    disposition = true;
                    for (k, v) in header_params(value) {
                        match k.to_ascii_lowercase().as_str() {
                            "name" => part.name = v,
                            "filename" => part.file_name = Some(v),
                            _ => {}
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.to_string()),
                "content-id" => part.content_id = Some(value.to_string()),
                _ => {}
            }
        }
        if !disposition || part.name.is_empty() {
            return Err("a part without Content-Disposition: form-data; name=...".into());
        }
        parts.push(part);
    }
    Ok(parts)
}

/// The `key=value` parameters after the first `;` of a header value; values may be
/// quoted (with `\` escapes).
fn header_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    // skip the leading token (media type or disposition)
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.trim().is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                val.push(n);
                            }
                        }
                        '"' => break,
                        c => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), val.trim_end().to_string()));
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// Standard base64 with padding (for comparing HTTP Basic logins).
pub fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse_and_pick_the_nth_request() {
        let p = FaultPlan::parse(
            "insert#2=500, insert#3=503:retry-after=1,insert#4=422,insert#5=timeout,\
             insert#6=reset-after-store,search#1=500,all=slow:200,insert#7=late-store:10,\
             insert#8=ok-without-id,info=reset",
        )
        .unwrap();
        assert_eq!(p.rules.len(), 10);
        assert_eq!(
            p.rules[1],
            FaultRule {
                kind: Kind::Insert,
                nth: Some(3),
                action: Action::Status {
                    code: 503,
                    retry_after: Some(1)
                }
            }
        );
        assert_eq!(p.rules[3].action, Action::Timeout(30_000));
        assert_eq!(p.rules[6].action, Action::Slow(200));
        assert_eq!(p.rules[9].nth, None);
        assert_eq!(p.actions(Kind::Insert, 1, 1), vec![Action::Slow(200)]);
        assert_eq!(
            p.actions(Kind::Insert, 2, 5),
            vec![
                Action::Status {
                    code: 500,
                    retry_after: None
                },
                Action::Slow(200)
            ]
        );
        assert_eq!(p.actions(Kind::Search, 2, 9), vec![Action::Slow(200)]);
        assert_eq!(
            p.actions(Kind::Info, 7, 9),
            vec![Action::Slow(200), Action::Reset]
        );
        for bad in [
            "insert=700",
            "insert#0=500",
            "update#1=500",
            "insert#1",
            "insert#1=503:retry=1",
            "all=slow",
            "insert#1=reset:5",
        ] {
            assert!(FaultPlan::parse(bad).is_err(), "{bad}");
        }
        assert!(FaultPlan::parse("").unwrap().rules.is_empty());
    }

    #[test]
    fn statements_of_the_supported_form_parse() {
        let s =
            parse_statement("SELECT system:objectId FROM Posteingang WHERE mailroomId=@p").unwrap();
        assert_eq!(
            s,
            Select {
                columns: vec!["system:objectId".into()],
                from: "Posteingang".into(),
                field: "mailroomId".into(),
                value: Operand::Param("p".into())
            }
        );
        let s = parse_statement("select *, a from Ordner where Kennung = 'O''Neil'").unwrap();
        assert_eq!(s.value, Operand::Literal("O'Neil".into()));
        assert_eq!(s.columns, vec!["*", "a"]);
        assert!(parse_statement("SELECT * FROM X").is_err());
        assert!(parse_statement("SELECT * FROM X WHERE a=@p OR 1=1").is_err());
        assert!(parse_statement("DELETE FROM X WHERE a=@p").is_err());
    }

    #[test]
    fn multipart_bodies_parse_with_names_types_and_content_ids() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--XyZ\r\ncontent-disposition: form-data; name=\"cid_doc\"; filename=\"a \\\"b\\\".pdf\"\r\ncontent-type: application/pdf\r\ncontent-id: cid_doc\r\n\r\n%PDF-1.7\r\n\r\nx\r\n--XyZ--\r\n";
        let parts = parse_multipart("XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "data");
        assert_eq!(parts[0].data, b"{\"a\":1}");
        assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(parts[1].name, "cid_doc");
        assert_eq!(parts[1].file_name.as_deref(), Some("a \"b\".pdf"));
        assert_eq!(parts[1].content_id.as_deref(), Some("cid_doc"));
        assert_eq!(parts[1].data, b"%PDF-1.7\r\n\r\nx");
        assert!(parse_multipart("XyZ", b"--XyZ\r\nContent-Type: a\r\n\r\nx\r\n--XyZ--").is_err());
        assert!(parse_multipart(
            "XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx"
        )
        .is_err());
        assert_eq!(
            header_params("multipart/form-data; boundary=\"a;b\"; x=y"),
            vec![
                ("boundary".to_string(), "a;b".to_string()),
                ("x".to_string(), "y".to_string())
            ]
        );
    }

    #[test]
    fn base64_and_type_lists() {
        assert_eq!(base64_encode(b"post:geheim"), "cG9zdDpnZWhlaW0=");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        let t = ObjectType::parse_list("Posteingang, Gesundheitsakte=262200", 262145).unwrap();
        assert_eq!(t[0].id, "262145");
        assert_eq!(t[1].id, "262200");
        assert!(ObjectType::parse_list("A=x", 1).is_err());
        assert!(ObjectType::parse_list("A,A", 1).is_err());
        assert_eq!(percent_decode("12%203"), "12 3");
    }
}
