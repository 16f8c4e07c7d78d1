//! Tokens: the hashed token file, reading credentials from a request, and permission checks.
//!
//! Only the SHA-256 of each token is stored (in `data_dir/tokens.json`, replaced
//! atomically); the token itself is shown once, when it is created.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sluice_storage::{SharedEntries, SharedSynced, Storage};

use crate::error::{Error, Result};
use crate::params::Params;
use crate::time::{rfc3339, rfc3339_now};

/// What a token may do with a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Query the database.
    Read,
    /// Write to the database.
    Write,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }
}

/// The actions a token holds on one database; `database` `*` means every database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Database name, or `*` for all databases.
    pub database: String,
    /// What the token may do there.
    pub actions: Vec<Action>,
}

/// One stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Stable id used to delete the token.
    pub id: String,
    /// A free-form label.
    pub name: String,
    /// An admin token may do everything, including managing databases and tokens.
    pub admin: bool,
    /// Per-database rights (empty for admin tokens).
    pub permissions: Vec<Permission>,
    /// When the token was created (RFC 3339).
    pub created_at: String,
    /// When the token stops being accepted (RFC 3339); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl TokenInfo {
    /// True when the token has an expiry and `now` is at or past it. An expiry that does
    /// not parse (a hand-edited file) counts as expired: a token is never valid by mistake.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        let Some(expires_at) = &self.expires_at else {
            return false;
        };
        let now_nanos = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        sluice_influxql::parse_time(expires_at).map_or(true, |at| now_nanos >= at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredToken {
    #[serde(flatten)]
    info: TokenInfo,
    /// Lower-case hex SHA-256 of the token.
    sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<StoredToken>,
    /// On a cloud node: the tokens as of its last reconciliation with those the nodes
    /// of its bucket share (see [`TokenStore::sync_shared`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shared: Option<SharedSynced<StoredToken>>,
}

/// The name of the record of tokens the nodes of a bucket share (`_shared/tokens/`).
const SHARED_TOKENS: &str = "tokens";

/// The tokens a node shares: all but the admin token, by id.
fn shareable(tokens: &[StoredToken]) -> SharedEntries<StoredToken> {
    tokens
        .iter()
        .filter(|t| !t.info.admin)
        .map(|t| (t.info.id.clone(), t.clone()))
        .collect()
}

/// The token database, kept in memory and mirrored to a JSON file.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    tokens: RwLock<Vec<StoredToken>>,
    failures: AuthFailures,
    /// Keeps a copy of the file in a cloud node's bucket (see [`TokenStore::kept_by`]).
    storage: Option<Storage>,
    /// The tokens as of the last reconciliation with the bucket's shared ones.
    shared: RwLock<SharedSynced<StoredToken>>,
}

/// Requests refused for their credentials, by reason (shown in `/metrics`).
#[derive(Debug, Default)]
pub struct AuthFailures {
    /// No token at all.
    pub missing: AtomicU64,
    /// A token that is not known, or credentials that do not parse.
    pub invalid: AtomicU64,
    /// A known token past its expiry.
    pub expired: AtomicU64,
}

impl AuthFailures {
    fn count(&self, err: &Error) {
        let counter = match err {
            Error::Unauthorized { reason } if *reason == MISSING_TOKEN => &self.missing,
            Error::Unauthorized { reason } if *reason == EXPIRED_TOKEN => &self.expired,
            _ => &self.invalid,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `(missing, invalid, expired)` so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.missing.load(Ordering::Relaxed),
            self.invalid.load(Ordering::Relaxed),
            self.expired.load(Ordering::Relaxed),
        )
    }
}

const MISSING_TOKEN: &str = "missing token: send `Authorization: Token <token>`";
const INVALID_TOKEN: &str = "invalid token";
const EXPIRED_TOKEN: &str = "token expired";

/// A freshly created token: the secret (shown once) and its stored description.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token to hand to clients.
    pub token: String,
    /// What was stored.
    pub info: TokenInfo,
}

impl TokenStore {
    /// Opens (or creates) the token file at `path` and makes sure there is an admin token.
    ///
    /// With `admin_token` set, that token becomes the admin token (its hash replaces any
    /// stored admin token). Without it, when the file has no admin token yet, a random
    /// admin token is created; it is returned so that the caller can show it once.
    ///
    /// # Errors
    /// [`Error::Internal`] when the file cannot be read, parsed or written.
    pub fn open(
        path: PathBuf,
        admin_token: Option<&str>,
    ) -> Result<(TokenStore, Option<NewToken>)> {
        let file: TokenFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                Error::Internal(format!("token file {} is not valid: {err}", path.display()))
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => TokenFile::default(),
            Err(err) => {
                return Err(Error::Internal(format!(
                    "cannot read token file {}: {err}",
                    path.display()
                )));
            }
        };
        let store = TokenStore {
            path,
            tokens: RwLock::new(file.tokens),
            failures: AuthFailures::default(),
            storage: None,
            shared: RwLock::new(file.shared.unwrap_or_default()),
        };
        let mut created = None;
        match admin_token {
            Some(token) => {
                let hash = sha256_hex(token);
                let mut tokens = store.tokens.write().expect("token lock poisoned");
                let unchanged = tokens.iter().any(|t| t.info.admin && t.sha256 == hash);
                if !unchanged {
                    tokens.retain(|t| !t.info.admin);
                    tokens.insert(0, admin_record(hash));
                    store.save(&tokens)?;
                }
            }
            None => {
                let mut tokens = store.tokens.write().expect("token lock poisoned");
                if !tokens.iter().any(|t| t.info.admin) {
                    let token = generate_token()?;
                    let record = admin_record(sha256_hex(&token));
                    let info = record.info.clone();
                    tokens.insert(0, record);
                    store.save(&tokens)?;
                    created = Some(NewToken { token, info });
                }
            }
        }
        Ok((store, created))
    }

    /// Finds the token whose hash matches `token` (expired or not: see
    /// [`TokenInfo::is_expired`]).
    ///
    /// Every stored hash is compared, each in constant time, so the time taken says
    /// nothing about which token (or which prefix of a hash) matched.
    pub fn lookup(&self, token: &str) -> Option<TokenInfo> {
        let hash = sha256_hex(token);
        let tokens = self.tokens.read().expect("token lock poisoned");
        let mut found = None;
        for stored in tokens.iter() {
            if constant_time_eq(stored.sha256.as_bytes(), hash.as_bytes()) && found.is_none() {
                found = Some(stored.info.clone());
            }
        }
        found
    }

    /// Requests refused for their credentials so far.
    pub fn failures(&self) -> &AuthFailures {
        &self.failures
    }

    /// Every stored token, admin first, without secrets.
    pub fn list(&self) -> Vec<TokenInfo> {
        let tokens = self.tokens.read().expect("token lock poisoned");
        tokens.iter().map(|t| t.info.clone()).collect()
    }

    /// Creates a non-admin token with `permissions` and stores its hash; with `expiry`,
    /// the token is refused (401 `token expired`) once that much time has passed.
    ///
    /// # Errors
    /// [`Error::InvalidBody`] for an empty permission list or a zero expiry,
    /// [`Error::Internal`] when the file cannot be written.
    pub fn create(
        &self,
        name: &str,
        permissions: Vec<Permission>,
        expiry: Option<Duration>,
    ) -> Result<NewToken> {
        if expiry.is_some_and(|e| e.is_zero()) {
            return Err(Error::InvalidBody {
                reason: "a token's expiry must be longer than zero".into(),
            });
        }
        if permissions.is_empty() || permissions.iter().any(|p| p.actions.is_empty()) {
            return Err(Error::InvalidBody {
                reason: "a token needs at least one database and one action".into(),
            });
        }
        if let Some(p) = permissions.iter().find(|p| p.database.is_empty()) {
            return Err(Error::InvalidBody {
                reason: format!("invalid database name {:?}", p.database),
            });
        }
        let token = generate_token()?;
        let info = TokenInfo {
            id: random_hex(8)?,
            name: name.to_owned(),
            admin: false,
            permissions,
            created_at: rfc3339_now(),
            expires_at: expiry
                .map(|e| SystemTime::now().checked_add(e).ok_or(e))
                .transpose()
                .map_err(|e| Error::InvalidBody {
                    reason: format!("token expiry {e:?} is too far in the future"),
                })?
                .map(rfc3339),
        };
        let mut tokens = self.tokens.write().expect("token lock poisoned");
        let mut next = tokens.clone();
        next.push(StoredToken {
            info: info.clone(),
            sha256: sha256_hex(&token),
        });
        self.save(&next)?;
        *tokens = next;
        Ok(NewToken { token, info })
    }

    /// Deletes the non-admin token `id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown id, [`Error::Forbidden`] for the admin token,
    /// [`Error::Internal`] when the file cannot be written.
    pub fn delete(&self, id: &str) -> Result<()> {
        let mut tokens = self.tokens.write().expect("token lock poisoned");
        let Some(position) = tokens.iter().position(|t| t.info.id == id) else {
            return Err(Error::NotFound {
                what: format!("token {id:?}"),
            });
        };
        if tokens[position].info.admin {
            return Err(Error::Forbidden {
                reason: "the admin token cannot be deleted; set a new one with SLUICE_ADMIN_TOKEN"
                    .into(),
            });
        }
        let mut next = tokens.clone();
        next.remove(position);
        self.save(&next)?;
        *tokens = next;
        Ok(())
    }

    /// Writes the file atomically: a temporary file, fsync, rename, fsync of the directory.
    fn save(&self, tokens: &[StoredToken]) -> Result<()> {
        let file = TokenFile {
            tokens: tokens.to_vec(),
            shared: Some(self.shared.read().expect("token lock poisoned").clone()),
        };
        crate::state_file::save_json(&self.path, "token file", &file, true, self.storage.as_ref())
    }

    /// One round of reconciling the node's tokens with those the nodes of its bucket
    /// share (`_shared/tokens/`, see `sluice_storage::Storage::reconcile_shared`): a
    /// token created or deleted on this node since the last round is so in the bucket,
    /// and one created or deleted on another node is so here. The admin token is each
    /// node's own (`SLUICE_ADMIN_TOKEN`). Nothing without a cloud store.
    ///
    /// # Errors
    /// [`Error::Internal`] when the bucket cannot be read or written, or the file
    /// cannot be saved.
    pub async fn sync_shared(&self) -> Result<()> {
        let Some(storage) = &self.storage else {
            return Ok(());
        };
        let round = storage
            .reconcile_shared(SHARED_TOKENS, || {
                let tokens = self.tokens.read().expect("token lock poisoned");
                let shared = self.shared.read().expect("token lock poisoned");
                (shareable(&tokens), shared.clone())
            })
            .await
            .map_err(|e| Error::Internal(format!("sharing tokens through the bucket: {e}")))?;
        let Some(round) = round else {
            return Ok(());
        };
        let mut tokens = self.tokens.write().expect("token lock poisoned");
        if !self
            .shared
            .read()
            .expect("token lock poisoned")
            .may_take(&round)
        {
            return Ok(());
        }
        let mut next = tokens.clone();
        for (id, token) in &round.take {
            let now = next.iter().find(|t| t.info.id == *id);
            if now != round.before.get(id) {
                // Changed here during the round: the next round shares it.
                continue;
            }
            next.retain(|t| t.info.id != *id);
            next.extend(token.clone());
        }
        let previous = self.shared.read().expect("token lock poisoned").clone();
        let mut settled = previous.clone();
        settled.settle(&round, &shareable(&next));
        if next == *tokens && settled == previous {
            return Ok(());
        }
        *self.shared.write().expect("token lock poisoned") = settled;
        if let Err(e) = self.save(&next) {
            *self.shared.write().expect("token lock poisoned") = previous;
            return Err(e);
        }
        *tokens = next;
        Ok(())
    }

    /// Hands every later save of the file to `storage`, which keeps a copy in a cloud
    /// node's bucket (restore it with [`Storage::restore_server_file`] before
    /// [`TokenStore::open`]), and the file as it is now.
    pub fn kept_by(mut self, storage: Storage) -> TokenStore {
        crate::state_file::publish_existing(&self.path, &storage);
        self.storage = Some(storage);
        self
    }
}

fn admin_record(sha256: String) -> StoredToken {
    StoredToken {
        info: TokenInfo {
            id: "admin".into(),
            name: "admin".into(),
            admin: true,
            permissions: Vec::new(),
            created_at: rfc3339_now(),
            expires_at: None,
        },
        sha256,
    }
}

/// A new random token: `sluice_` and 64 hex digits (256 bits from the OS).
fn generate_token() -> Result<String> {
    Ok(format!("sluice_{}", random_hex(32)?))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|err| Error::Internal(format!("no randomness from the os: {err}")))?;
    Ok(hex(&buf))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Lower-case hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The status endpoints that answer without a token (`--disable-authz`); every other
/// endpoint always needs one while auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenEndpoints {
    /// `GET /health`.
    pub health: bool,
    /// `GET|HEAD /ping`.
    pub ping: bool,
    /// `GET /ready`.
    pub ready: bool,
    /// `GET /metrics`.
    pub metrics: bool,
}

impl Default for OpenEndpoints {
    /// `/health`, `/ping` and `/ready` open (load balancers and clients probe them before
    /// they have a token, as with InfluxDB 1.x and 2.x); `/metrics` needs a token.
    fn default() -> Self {
        OpenEndpoints {
            health: true,
            ping: true,
            ready: true,
            metrics: false,
        }
    }
}

impl std::str::FromStr for OpenEndpoints {
    type Err = String;

    /// A comma-separated list of `health`, `ping`, `ready`, `metrics`; `none` (or an
    /// empty list) opens nothing.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let mut open = OpenEndpoints {
            health: false,
            ping: false,
            ready: false,
            metrics: false,
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "health" => open.health = true,
                "ping" => open.ping = true,
                "ready" => open.ready = true,
                "metrics" => open.metrics = true,
                "none" => {}
                other => {
                    return Err(format!(
                        "unknown resource {other:?}: use health, ping, ready, metrics or none"
                    ));
                }
            }
        }
        Ok(open)
    }
}

/// How requests are authorized.
#[derive(Debug)]
pub enum Auth {
    /// Every request may do everything (`--without-auth`); credentials are ignored.
    Disabled,
    /// Requests need a token from the store.
    Tokens(TokenStore),
}

/// Who is asking.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Auth is off: everything is allowed.
    Anyone,
    /// A valid token.
    Token(TokenInfo),
}

impl Principal {
    /// True when this principal may manage databases and tokens.
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Anyone => true,
            Principal::Token(info) => info.admin,
        }
    }

    /// True when this principal may do `action` on `database`. The storage database of
    /// a retention policy, `D/r`, is covered by the permissions on `D`.
    pub fn can(&self, database: &str, action: Action) -> bool {
        let database = database.split_once('/').map_or(database, |(d, _)| d);
        match self {
            Principal::Anyone => true,
            Principal::Token(info) => {
                info.admin
                    || info.permissions.iter().any(|p| {
                        (p.database == database || p.database == "*") && p.actions.contains(&action)
                    })
            }
        }
    }

    /// Fails with 403 unless this principal may do `action` on `database`.
    ///
    /// # Errors
    /// [`Error::Forbidden`].
    pub fn require(&self, database: &str, action: Action) -> Result<()> {
        if self.can(database, action) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                reason: format!(
                    "token does not have {} permission on database {database:?}",
                    action.as_str()
                ),
            })
        }
    }

    /// Fails with 403 unless this principal is an admin.
    ///
    /// # Errors
    /// [`Error::Forbidden`].
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden {
                reason: "this needs an admin token".into(),
            })
        }
    }
}

impl Auth {
    /// Identifies the caller from `Authorization: Token|Bearer|Basic …` or the `p` query
    /// parameter (the password of Basic auth and `p` carry the token; the user is ignored).
    ///
    /// # Errors
    /// [`Error::Unauthorized`] when auth is on and the token is missing or unknown.
    pub fn authenticate(&self, headers: &HeaderMap, params: &Params) -> Result<Principal> {
        let store = match self {
            Auth::Disabled => return Ok(Principal::Anyone),
            Auth::Tokens(store) => store,
        };
        let found = credentials(headers, params).and_then(|token| {
            let token = token.ok_or(Error::Unauthorized {
                reason: MISSING_TOKEN,
            })?;
            let info = store.lookup(&token).ok_or(Error::Unauthorized {
                reason: INVALID_TOKEN,
            })?;
            if info.is_expired(SystemTime::now()) {
                return Err(Error::Unauthorized {
                    reason: EXPIRED_TOKEN,
                });
            }
            Ok(Principal::Token(info))
        });
        if let Err(err) = &found {
            store.failures.count(err);
        }
        found
    }

    /// Lets the request through when `open` (a `--disable-authz` endpoint), else needs
    /// any valid token.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] as for [`Auth::authenticate`].
    pub fn check_open(&self, open: bool, headers: &HeaderMap, params: &Params) -> Result<()> {
        if open {
            return Ok(());
        }
        self.authenticate(headers, params).map(drop)
    }

    /// The token store, when auth is on.
    pub fn store(&self) -> Option<&TokenStore> {
        match self {
            Auth::Disabled => None,
            Auth::Tokens(store) => Some(store),
        }
    }
}

/// The token a request carries, if any.
fn credentials(headers: &HeaderMap, params: &Params) -> Result<Option<String>> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| Error::Unauthorized {
            reason: "unable to parse authentication credentials",
        })?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let rest = rest.trim();
        let token = if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")
        {
            rest.to_owned()
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(Error::Unauthorized {
                    reason: "unable to parse authentication credentials",
                })?;
            let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
            if password.is_empty() { user } else { password }.to_owned()
        } else {
            return Err(Error::Unauthorized {
                reason: "unsupported authorization scheme: use Token, Bearer or Basic",
            });
        };
        if !token.is_empty() {
            return Ok(Some(token));
        }
    }
    Ok(params.get("p").filter(|p| !p.is_empty()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn reads_every_credential_form() {
        let none = Params::default();
        let basic = base64::engine::general_purpose::STANDARD.encode("user:secret");
        for (header, want) in [
            ("Token secret", Some("secret")),
            ("token  secret ", Some("secret")),
            ("Bearer secret", Some("secret")),
            (&format!("Basic {basic}") as &str, Some("secret")),
            ("Token ", None),
        ] {
            assert_eq!(
                credentials(&headers(header), &none).unwrap().as_deref(),
                want,
                "{header}"
            );
        }
        let params = Params::parse(Some("u=x&p=secret")).unwrap();
        assert_eq!(
            credentials(&HeaderMap::new(), &params).unwrap().as_deref(),
            Some("secret")
        );
        assert!(credentials(&headers("Digest abc"), &none).is_err());
    }

    #[test]
    fn first_start_creates_one_admin_token_and_stores_only_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let (store, created) = TokenStore::open(path.clone(), None).unwrap();
        let created = created.expect("a new admin token");
        assert!(created.token.starts_with("sluice_") && created.token.len() == 71);
        assert!(store.lookup(&created.token).unwrap().admin);
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(!file.contains(&created.token));
        assert!(file.contains(&sha256_hex(&created.token)));
        let (reopened, again) = TokenStore::open(path, None).unwrap();
        assert!(again.is_none());
        assert!(reopened.lookup(&created.token).is_some());
    }

    #[test]
    fn a_configured_admin_token_replaces_the_stored_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let (_, created) = TokenStore::open(path.clone(), None).unwrap();
        let (store, none) = TokenStore::open(path, Some("my-admin")).unwrap();
        assert!(none.is_none());
        assert!(store.lookup("my-admin").unwrap().admin);
        assert!(store.lookup(&created.unwrap().token).is_none());
    }

    #[test]
    fn scoped_tokens_allow_only_their_database_and_actions() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = TokenStore::open(dir.path().join("t.json"), Some("admin")).unwrap();
        let new = store
            .create(
                "w",
                vec![Permission {
                    database: "db1".into(),
                    actions: vec![Action::Write],
                }],
                None,
            )
            .unwrap();
        let principal = Principal::Token(store.lookup(&new.token).unwrap());
        assert!(principal.can("db1", Action::Write));
        assert!(!principal.can("db1", Action::Read));
        assert!(!principal.can("db2", Action::Write));
        // The storage of a retention policy of db1 is covered by db1's permissions.
        assert!(principal.can("db1/week", Action::Write));
        assert!(!principal.can("db2/week", Action::Write));
        assert!(principal.require_admin().is_err());
        store.delete(&new.info.id).unwrap();
        assert!(store.lookup(&new.token).is_none());
        assert!(matches!(
            store.delete("admin"),
            Err(Error::Forbidden { .. })
        ));
    }
}

#[cfg(test)]
mod open_endpoint_tests {
    use super::*;

    #[test]
    fn disable_authz_lists_parse() {
        let all: OpenEndpoints = "metrics, health,ping,READY".parse().unwrap();
        assert!(all.health && all.ping && all.ready && all.metrics);
        let none: OpenEndpoints = "none".parse().unwrap();
        assert!(!none.health && !none.ping && !none.ready && !none.metrics);
        let metrics: OpenEndpoints = "metrics".parse().unwrap();
        assert!(metrics.metrics && !metrics.health);
        let err = "metrics,write".parse::<OpenEndpoints>().unwrap_err();
        assert!(err.contains("\"write\""), "{err}");
        let default = OpenEndpoints::default();
        assert!(default.health && default.ping && default.ready && !default.metrics);
    }
}

#[cfg(test)]
mod expiry_tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers
    }

    fn read_all() -> Vec<Permission> {
        vec![Permission {
            database: "*".into(),
            actions: vec![Action::Read],
        }]
    }

    #[test]
    fn a_token_is_refused_once_its_expiry_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = TokenStore::open(dir.path().join("t.json"), Some("admin")).unwrap();
        let short = store
            .create("short", read_all(), Some(Duration::from_secs(3600)))
            .unwrap();
        let info = store.lookup(&short.token).unwrap();
        let now = SystemTime::now();
        assert!(!info.is_expired(now));
        assert!(info.is_expired(now + Duration::from_secs(3601)));
        let auth = Auth::Tokens(store);
        assert!(
            auth.authenticate(&bearer(&short.token), &Params::default())
                .is_ok()
        );

        let Auth::Tokens(store) = &auth else {
            unreachable!()
        };
        let mut tokens = store.tokens.write().unwrap();
        tokens.last_mut().unwrap().info.expires_at = Some("2001-01-01T00:00:00Z".into());
        drop(tokens);
        let err = auth
            .authenticate(&bearer(&short.token), &Params::default())
            .unwrap_err();
        assert!(matches!(err, Error::Unauthorized { reason } if reason == EXPIRED_TOKEN));
    }

    #[test]
    fn failed_authentications_are_counted_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = TokenStore::open(dir.path().join("t.json"), Some("admin")).unwrap();
        let auth = Auth::Tokens(store);
        let none = Params::default();
        let _ = auth.authenticate(&HeaderMap::new(), &none);
        let _ = auth.authenticate(&bearer("nope"), &none);
        let _ = auth.authenticate(&bearer("nope"), &none);
        assert!(auth.authenticate(&bearer("admin"), &none).is_ok());
        let Auth::Tokens(store) = &auth else {
            unreachable!()
        };
        assert_eq!(store.failures().snapshot(), (1, 2, 0));
    }

    #[test]
    fn an_expiry_that_does_not_parse_counts_as_expired() {
        let info = TokenInfo {
            id: "x".into(),
            name: String::new(),
            admin: false,
            permissions: read_all(),
            created_at: rfc3339_now(),
            expires_at: Some("tomorrow".into()),
        };
        assert!(info.is_expired(SystemTime::now()));
    }
}
