//! DMS credentials: from the environment or from a file, never from the command line
//! (argv is visible to every user of the machine in `ps`).
//!
//! Environment: `MAILROOM_DMS_USER` and `MAILROOM_DMS_PASSWORD` (HTTP Basic), or
//! `MAILROOM_DMS_TOKEN` (a token, e.g. Mayan's). File (the profile's `credentials_file`):
//! lines `user = ...`, `password = ...` or `token = ...`; `#` starts a comment. The file
//! must not be readable by others (mode 0600 or stricter), like an SSH key.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};

pub const ENV_USER: &str = "MAILROOM_DMS_USER";
pub const ENV_PASSWORD: &str = "MAILROOM_DMS_PASSWORD";
pub const ENV_TOKEN: &str = "MAILROOM_DMS_TOKEN";

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { user: String, password: String },
    Token(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::Token(_) => write!(f, "Token(***)"),
        }
    }
}

impl Credentials {
    /// The credentials from `file` if given, else from the environment; `None` when
    /// neither has any.
    pub fn load(file: Option<&Path>) -> Result<Option<Credentials>> {
        match file {
            Some(path) => Self::from_file(path).map(Some),
            None => Ok(Self::from_env(|k| std::env::var(k).ok())),
        }
    }

    /// The values that must never be shown or logged: the password and the HTTP Basic
    /// authorization value built from it, or the token.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::Basic { user, password } => vec![
                password.clone(),
                crate::lab::dms_server::base64_encode(format!("{user}:{password}").as_bytes()),
            ],
            Credentials::Token(token) => vec![token.clone()],
        }
    }

    fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
        if let Some(token) = get(ENV_TOKEN).filter(|t| !t.is_empty()) {
            return Some(Credentials::Token(token));
        }
        match (get(ENV_USER), get(ENV_PASSWORD)) {
            (Some(user), Some(password)) if !user.is_empty() => {
                Some(Credentials::Basic { user, password })
            }
            _ => None,
        }
    }

    fn from_file(path: &Path) -> Result<Credentials> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read credentials file {}", path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                bail!(
                    "credentials file {} is readable by other users; chmod 600 it",
                    path.display()
                );
            }
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read credentials file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in credentials file {}", path.display()))
    }

    fn parse(text: &str) -> Result<Credentials> {
        let (mut user, mut password, mut token) = (None, None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("line {}: expected `key = value`", n + 1);
            };
            let value = value.trim().to_string();
            match key.trim() {
                "user" => user = Some(value),
                "password" => password = Some(value),
                "token" => token = Some(value),
                other => bail!(
                    "line {}: unknown key `{other}` (user, password, token)",
                    n + 1
                ),
            }
        }
        match (token, user, password) {
            (Some(t), None, None) => Ok(Credentials::Token(t)),
            (None, Some(user), Some(password)) => Ok(Credentials::Basic { user, password }),
            _ => bail!("give either `token`, or both `user` and `password`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_the_password_its_basic_form_or_the_token() {
        let basic = Credentials::Basic {
            user: "post".into(),
            password: "geheim".into(),
        };
        assert_eq!(basic.secrets(), vec!["geheim", "cG9zdDpnZWhlaW0="]);
        assert_eq!(Credentials::Token("t0k".into()).secrets(), vec!["t0k"]);
    }

    #[test]
    fn file_format_and_errors() {
        assert_eq!(
            Credentials::parse("# enaio\nuser = post\npassword = a=b c\n").unwrap(),
            Credentials::Basic {
                user: "post".into(),
                password: "a=b c".into()
            }
        );
        assert_eq!(
            Credentials::parse("token=abc").unwrap(),
            Credentials::Token("abc".into())
        );
        assert!(Credentials::parse("user = x").is_err());
        let e = Credentials::parse("pass = x").unwrap_err().to_string();
        assert!(e.contains("unknown key `pass`"), "{e}");
    }

    #[test]
    fn environment_token_wins_and_debug_hides_secrets() {
        let env = |k: &str| match k {
            ENV_USER => Some("u".to_string()),
            ENV_PASSWORD => Some("geheim".to_string()),
            _ => None,
        };
        let c = Credentials::from_env(env).unwrap();
        assert!(!format!("{c:?}").contains("geheim"));
        let with_token = |k: &str| (k == ENV_TOKEN).then(|| "t0k".to_string());
        assert_eq!(
            Credentials::from_env(with_token),
            Some(Credentials::Token("t0k".into()))
        );
        assert_eq!(Credentials::from_env(|_| None), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cred");
        std::fs::write(&p, "token = x\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Credentials::load(Some(&p)).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            Credentials::load(Some(&p)).unwrap(),
            Some(Credentials::Token("x".into()))
        );
    }
}
