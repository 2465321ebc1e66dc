//! API keys on disk, and their lookup per request. Invariant: the file holds hashes only; a key
//! revoked or expired on disk is refused by the next request, without a restart.
//!
//! The file (`keys.json` in the data directory, mode 0600) is rewritten whole through a temporary
//! file and a rename, so a reader sees the old or the new set, never half of one. `serve` checks
//! the file's modification stamp on every request (one `stat`) and reloads when it changed. A file
//! that cannot be read or parsed refuses every key: a broken key file must not open the API.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::api_key::{self, KeyHash};
use super::role::Role;

/// File name of the key store inside the data directory.
pub const KEYS_FILE: &str = "keys.json";

/// Beside the store: a change holds an exclusive lock on it from load to save. Without it, two
/// `keys` commands at once would each write the set they loaded, and the later write would
/// drop the other's change; a dropped revocation leaves a revoked key working.
const LOCK_FILE: &str = "keys.json.lock";

/// Longest tenant name, matching the index's limits on identifiers.
const MAX_TENANT_LEN: usize = 64;

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// Reading or writing the file failed.
    #[error("key store {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a key store.
    #[error("key store {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A bad argument (tenant name, unknown id).
    #[error("{0}")]
    Invalid(String),
}

/// One key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Public id (the `<id>` part of the key).
    pub id: String,
    /// Free text naming the holder ("splunk-prod", "alice").
    pub name: String,
    /// The one tenant this key reads.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// SHA-256 of the key, hex.
    pub sha256: String,
}

impl KeyRecord {
    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileBody {
    version: u32,
    keys: Vec<KeyRecord>,
}

/// The key store file, for the `keys` commands.
pub struct KeyFile {
    path: PathBuf,
    body: KeyFileBody,
    /// Held by [`KeyFile::load_for_update`]; unlocked when the `KeyFile` is dropped.
    _lock: Option<std::fs::File>,
}

impl KeyFile {
    /// Path of the store in `data_dir`.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(KEYS_FILE)
    }

    /// Loads the store in `data_dir`; a missing file is an empty store.
    pub fn load(data_dir: &Path) -> Result<KeyFile, KeyStoreError> {
        let path = Self::path_in(data_dir);
        let body = match std::fs::read(&path) {
            Ok(bytes) => parse(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFileBody {
                version: 1,
                keys: Vec::new(),
            },
            Err(source) => return Err(KeyStoreError::Io { path, source }),
        };
        Ok(KeyFile {
            path,
            body,
            _lock: None,
        })
    }

    /// Loads the store in `data_dir` to change it: waits for any other change to finish, and
    /// keeps others waiting until this `KeyFile` is dropped, so that load, change and
    /// [`KeyFile::save`] act as one step.
    pub fn load_for_update(data_dir: &Path) -> Result<KeyFile, KeyStoreError> {
        use fs4::fs_std::FileExt;
        let path = data_dir.join(LOCK_FILE);
        let io = |source| KeyStoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(&path).map_err(io)?;
        lock.lock_exclusive().map_err(io)?;
        let mut file = Self::load(data_dir)?;
        file._lock = Some(lock);
        Ok(file)
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[KeyRecord] {
        &self.body.keys
    }

    /// Adds a new key and returns its record and its full text (to print once, never to store).
    pub fn create(
        &mut self,
        tenant: &str,
        role: Role,
        name: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(KeyRecord, String), KeyStoreError> {
        validate_tenant(tenant)?;
        if name.len() > 128 || name.chars().any(char::is_control) {
            return Err(KeyStoreError::Invalid(
                "name: at most 128 characters, no control characters".into(),
            ));
        }
        if expires_at.is_some_and(|e| e <= now) {
            return Err(KeyStoreError::Invalid(
                "expires: must be in the future".into(),
            ));
        }
        let new = api_key::generate().map_err(|source| KeyStoreError::Io {
            path: self.path.clone(),
            source,
        })?;
        let record = KeyRecord {
            id: new.id,
            name: name.to_owned(),
            tenant: tenant.to_owned(),
            role,
            created_at: now,
            expires_at,
            revoked_at: None,
            sha256: hex::encode(new.hash),
        };
        self.body.keys.push(record.clone());
        Ok((record, new.text))
    }

    /// Marks a key revoked. Revoking twice keeps the first time.
    pub fn revoke(&mut self, id: &str, now: DateTime<Utc>) -> Result<&KeyRecord, KeyStoreError> {
        let record = self
            .body
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyStoreError::Invalid(format!("no key with id {id:?}")))?;
        record.revoked_at.get_or_insert(now);
        Ok(record)
    }

    /// Writes the store atomically, readable by its owner only.
    pub fn save(&self) -> Result<(), KeyStoreError> {
        let io = |source| KeyStoreError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.body).map_err(|e| io(e.into()))?;
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            // The rename is durable only once the directory entry is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<KeyFileBody, KeyStoreError> {
    let body: KeyFileBody = serde_json::from_slice(bytes).map_err(|e| KeyStoreError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if body.version != 1 {
        return Err(KeyStoreError::Corrupt {
            path: path.to_owned(),
            message: format!("version {} is not supported (expected 1)", body.version),
        });
    }
    Ok(body)
}

/// Checks a tenant name: what keys may bind and headers may carry.
pub fn validate_tenant(tenant: &str) -> Result<(), KeyStoreError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_LEN
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::Invalid(format!(
            "tenant: {tenant:?} is not a tenant name (1-{MAX_TENANT_LEN} of A-Z a-z 0-9 . _ -)"
        )))
    }
}

/// Who is calling: what a valid key resolves to.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id.
    pub key_id: Arc<str>,
    /// The tenant every read is confined to.
    pub tenant: Arc<str>,
    /// What the key may do.
    pub role: Role,
}

struct ActiveKey {
    id: Arc<str>,
    tenant: Arc<str>,
    role: Role,
    hash: KeyHash,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

#[derive(Default)]
struct Loaded {
    /// Modification time and length of the file this was read from; `None`: no file.
    stamp: Option<(SystemTime, u64)>,
    keys: Vec<ActiveKey>,
    /// Set when the file exists but could not be used: then every key is refused.
    broken: bool,
}

/// The keys `serve` checks requests against.
pub struct KeyStore {
    path: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
}

impl KeyStore {
    /// Opens the store in `data_dir` and reports how many keys are usable.
    pub fn open(data_dir: &Path) -> Result<KeyStore, KeyStoreError> {
        let path = KeyFile::path_in(data_dir);
        let store = KeyStore {
            path,
            loaded: RwLock::new(Arc::new(Loaded::default())),
        };
        let loaded = store.read()?;
        *store.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(store)
    }

    /// Number of keys neither revoked nor expired at `now`.
    pub fn active_keys(&self, now: DateTime<Utc>) -> usize {
        self.current()
            .keys
            .iter()
            .filter(|k| !k.revoked && k.expires_at.is_none_or(|e| e > now))
            .count()
    }

    /// Resolves a bearer token, or `None` — without saying which part was wrong.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Option<Principal> {
        let loaded = self.current();
        if loaded.broken {
            return None;
        }
        let id = api_key::parse_id(token)?;
        let Some(key) = loaded.keys.iter().find(|k| &*k.id == id) else {
            // Spend the same hash-and-compare as for a known id.
            let _ = api_key::matches(token, &[0u8; 32]);
            return None;
        };
        let valid = api_key::matches(token, &key.hash);
        let usable = !key.revoked && key.expires_at.is_none_or(|e| e > now);
        (valid && usable).then(|| Principal {
            key_id: key.id.clone(),
            tenant: key.tenant.clone(),
            role: key.role,
        })
    }

    fn current(&self) -> Arc<Loaded> {
        let stamp = file_stamp(&self.path);
        {
            let loaded = self.loaded.read().unwrap_or_else(|e| e.into_inner());
            if loaded.stamp == stamp {
                return loaded.clone();
            }
        }
        let fresh = match self.read() {
            Ok(l) => {
                tracing::info!(path = %self.path.display(), keys = l.keys.len(), "api keys reloaded");
                l
            }
            Err(e) => {
                tracing::error!(error = %e, "api key store unusable: refusing every key");
                Loaded {
                    stamp,
                    keys: Vec::new(),
                    broken: true,
                }
            }
        };
        let fresh = Arc::new(fresh);
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        fresh
    }

    fn read(&self) -> Result<Loaded, KeyStoreError> {
        let stamp = file_stamp(&self.path);
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::default()),
            Err(source) => {
                return Err(KeyStoreError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let body = parse(&self.path, &bytes)?;
        let mut keys = Vec::with_capacity(body.keys.len());
        for k in body.keys {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&k.sha256, &mut hash).map_err(|_| KeyStoreError::Corrupt {
                path: self.path.clone(),
                message: format!("key {}: sha256 is not 64 hex digits", k.id),
            })?;
            keys.push(ActiveKey {
                id: k.id.into(),
                tenant: k.tenant.into(),
                role: k.role,
                hash,
                expires_at: k.expires_at,
                revoked: k.revoked_at.is_some(),
            });
        }
        Ok(Loaded {
            stamp,
            keys,
            broken: false,
        })
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_made_at_the_same_time_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = KeyFile::load_for_update(dir.path()).unwrap();
        let (kept, _) = first
            .create("acme", Role::Analyst, "first", None, now())
            .unwrap();
        let kept = kept.id.clone();
        let path = dir.path().to_owned();
        // The second change starts while the first is loaded but not saved: it must wait, then
        // see the first one's key.
        let second = std::thread::spawn(move || {
            let mut file = KeyFile::load_for_update(&path).unwrap();
            let (record, _) = file
                .create("acme", Role::Analyst, "second", None, now())
                .unwrap();
            let id = record.id.clone();
            file.save().unwrap();
            id
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            !second.is_finished(),
            "the second change waits for the first"
        );
        first.save().unwrap();
        drop(first);
        let added = second.join().unwrap();
        let ids: Vec<String> = KeyFile::load(dir.path())
            .unwrap()
            .keys()
            .iter()
            .map(|k| k.id.clone())
            .collect();
        assert_eq!(ids, [kept, added]);
    }

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    fn store_with_key(role: Role) -> (tempfile::TempDir, KeyStore, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut file = KeyFile::load(dir.path()).unwrap();
        let (record, text) = file.create("acme", role, "test", None, now()).unwrap();
        file.save().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        (dir, store, record.id, text)
    }

    #[test]
    fn a_created_key_authenticates_as_its_tenant_and_role() {
        let (_dir, store, id, text) = store_with_key(Role::Siem);
        let p = store.authenticate(&text, now()).expect("valid key");
        assert_eq!(
            (&*p.key_id, &*p.tenant, p.role),
            (id.as_str(), "acme", Role::Siem)
        );
    }

    #[test]
    fn the_key_file_holds_no_key_text() {
        let (dir, _store, _id, text) = store_with_key(Role::Admin);
        let on_disk = std::fs::read_to_string(KeyFile::path_in(dir.path())).unwrap();
        let secret = text.rsplit('_').next().unwrap();
        assert!(!on_disk.contains(secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(KeyFile::path_in(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file must not be readable by others");
        }
    }

    #[test]
    fn a_revoked_key_is_refused_by_the_next_lookup_without_reopening() {
        let (dir, store, id, text) = store_with_key(Role::Analyst);
        assert!(store.authenticate(&text, now()).is_some());
        // Guarantee a different modification stamp even on coarse clocks.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut file = KeyFile::load(dir.path()).unwrap();
        file.revoke(&id, now()).unwrap();
        file.save().unwrap();
        assert!(store.authenticate(&text, now()).is_none());
    }

    #[test]
    fn an_expired_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = KeyFile::load(dir.path()).unwrap();
        let t0 = now();
        let expires = t0 + chrono::Duration::hours(1);
        let (_, text) = file
            .create("acme", Role::Analyst, "t", Some(expires), t0)
            .unwrap();
        file.save().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        assert!(store.authenticate(&text, t0).is_some());
        assert!(store.authenticate(&text, expires).is_none());
    }

    #[test]
    fn unknown_and_malformed_keys_are_refused_alike() {
        let (_dir, store, _id, text) = store_with_key(Role::Admin);
        let other = api_key::generate().unwrap().text;
        for bad in [other.as_str(), "", "Bearer", &text[1..], "hpt_x"] {
            assert!(store.authenticate(bad, now()).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_corrupt_key_file_refuses_every_key() {
        let (dir, store, _id, text) = store_with_key(Role::Admin);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(KeyFile::path_in(dir.path()), b"{not json").unwrap();
        assert!(store.authenticate(&text, now()).is_none());
    }

    #[test]
    fn tenant_names_are_checked_when_a_key_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = KeyFile::load(dir.path()).unwrap();
        for bad in ["", "a b", "ten/ant", &"x".repeat(65)] {
            assert!(
                file.create(bad, Role::Admin, "n", None, now()).is_err(),
                "{bad}"
            );
        }
    }
}
