//! A partner's keystore: their personal signing key, encrypted with a passphrase, kept on
//! their own machine. Proposals and ballots are signed here and handed to a node, which
//! never holds the key.
//!
//! Format (binary, [`KEYSTORE_LEN`] bytes):
//!
//! | bytes | field |
//! |---|---|
//! | 0–15 | magic `mutual-keystore1` |
//! | 16–19 | Argon2id memory cost in KiB (u32, big-endian) |
//! | 20–23 | Argon2id passes (u32, big-endian) |
//! | 24–27 | Argon2id lanes (u32, big-endian) |
//! | 28–43 | salt |
//! | 44–67 | XChaCha20-Poly1305 nonce (24 bytes) |
//! | 68–99 | the public key, in clear, so `show` needs no passphrase |
//! | 100–147 | the 32-byte seed encrypted, with its 16-byte tag |
//!
//! The key encryption key is Argon2id(passphrase, salt) with the stored costs; bytes 0–99
//! are the associated data, so changing a cost, the salt or the public key makes the
//! decryption fail. A wrong passphrase and a damaged file look the same to the cipher;
//! the error says so.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mutual_protocol::keys::{Keypair, PublicKey, SECRET_KEY_LEN};
use rand_core::{OsRng, RngCore};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The first 16 bytes of every keystore.
pub const MAGIC: &[u8; 16] = b"mutual-keystore1";
/// A keystore's exact length in bytes.
pub const KEYSTORE_LEN: usize = 148;
/// Argon2id memory cost used for new keystores, in KiB (19 MiB, OWASP's recommendation).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes used for new keystores.
pub const PASSES: u32 = 2;
/// Largest memory cost a keystore may ask for when read, in KiB (256 MiB), so a crafted
/// file cannot make `mutual` allocate without bound.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Most passes a keystore may ask for when read.
pub const MAX_PASSES: u32 = 16;
/// Shortest passphrase accepted for a new keystore, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

const HEADER_LEN: usize = 100;
const SALT: std::ops::Range<usize> = 28..44;
const NONCE: std::ops::Range<usize> = 44..68;
const PUBLIC: std::ops::Range<usize> = 68..100;

/// Why a keystore could not be made, read or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The passphrase does not open the keystore.
    #[error("wrong passphrase for {0} (or the file is damaged)")]
    WrongPassphrase(PathBuf),
    /// The passphrase is too short for a new keystore.
    #[error("a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    /// Not a keystore.
    #[error("{0} is not a Mutual keystore: {1}")]
    Format(PathBuf, &'static str),
    /// Refusing to replace an existing file.
    #[error("{0} already exists; refusing to overwrite a keystore")]
    Exists(PathBuf),
    /// The filesystem failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A keystore read from disk; the public key is readable without the passphrase.
#[derive(Clone, Debug)]
pub struct Keystore {
    path: PathBuf,
    bytes: [u8; KEYSTORE_LEN],
}

fn kek(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], &'static str> {
    let params = Params::new(m, t, p, Some(32)).map_err(|_| "invalid Argon2 costs")?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|_| "invalid Argon2 input")?;
    Ok(out)
}

/// Encrypts `kp` under `passphrase` into keystore bytes.
pub fn seal(kp: &Keypair, passphrase: &str) -> Result<[u8; KEYSTORE_LEN], KeystoreError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(KeystoreError::WeakPassphrase);
    }
    let mut b = [0u8; KEYSTORE_LEN];
    b[..16].copy_from_slice(MAGIC);
    b[16..20].copy_from_slice(&MEMORY_KIB.to_be_bytes());
    b[20..24].copy_from_slice(&PASSES.to_be_bytes());
    b[24..28].copy_from_slice(&1u32.to_be_bytes());
    OsRng.fill_bytes(&mut b[SALT]);
    OsRng.fill_bytes(&mut b[NONCE]);
    b[PUBLIC].copy_from_slice(kp.public().as_bytes());
    let key = kek(passphrase, &b[SALT], MEMORY_KIB, PASSES, 1)
        .map_err(|why| KeystoreError::Format(PathBuf::new(), why))?;
    let sealed = XChaCha20Poly1305::new((&key).into())
        .encrypt(
            XNonce::from_slice(&b[NONCE]),
            Payload {
                msg: &kp.seed(),
                aad: &b[..HEADER_LEN],
            },
        )
        .map_err(|_| KeystoreError::Format(PathBuf::new(), "encryption failed"))?;
    b[HEADER_LEN..].copy_from_slice(&sealed);
    Ok(b)
}

impl Keystore {
    /// Parses keystore bytes (no passphrase needed); `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, KeystoreError> {
        let bad = |why| KeystoreError::Format(path.to_path_buf(), why);
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("missing the mutual-keystore1 header"));
        }
        let bytes: [u8; KEYSTORE_LEN] = bytes
            .try_into()
            .map_err(|_| bad("wrong length (a keystore is 148 bytes)"))?;
        let ks = Keystore {
            path: path.to_path_buf(),
            bytes,
        };
        let (m, t, p) = ks.costs();
        if m > MAX_MEMORY_KIB || t > MAX_PASSES || p != 1 {
            return Err(bad("key derivation costs out of range"));
        }
        Params::new(m, t, p, Some(32)).map_err(|_| bad("invalid key derivation costs"))?;
        PublicKey::from_slice(&ks.bytes[PUBLIC]).map_err(|_| bad("invalid public key"))?;
        Ok(ks)
    }

    /// Reads a keystore file.
    pub fn read(path: &Path) -> Result<Self, KeystoreError> {
        let bytes = std::fs::read(path).map_err(|source| KeystoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    fn costs(&self) -> (u32, u32, u32) {
        let word = |i: usize| u32::from_be_bytes(self.bytes[i..i + 4].try_into().unwrap_or([0; 4]));
        (word(16), word(20), word(24))
    }

    /// The public key (the partner's id in the network, or their current key).
    pub fn public(&self) -> PublicKey {
        PublicKey::from_slice(&self.bytes[PUBLIC])
            .unwrap_or_else(|_| unreachable!("checked in parse"))
    }

    /// Decrypts the key with `passphrase`.
    pub fn open(&self, passphrase: &str) -> Result<Keypair, KeystoreError> {
        let (m, t, p) = self.costs();
        let key = kek(passphrase, &self.bytes[SALT], m, t, p)
            .map_err(|why| KeystoreError::Format(self.path.clone(), why))?;
        let wrong = || KeystoreError::WrongPassphrase(self.path.clone());
        let seed = XChaCha20Poly1305::new((&key).into())
            .decrypt(
                XNonce::from_slice(&self.bytes[NONCE]),
                Payload {
                    msg: &self.bytes[HEADER_LEN..],
                    aad: &self.bytes[..HEADER_LEN],
                },
            )
            .map_err(|_| wrong())?;
        let seed: [u8; SECRET_KEY_LEN] = seed.as_slice().try_into().map_err(|_| wrong())?;
        let kp = Keypair::from_seed(&seed).ok_or_else(wrong)?;
        if kp.public() != self.public() {
            return Err(KeystoreError::Format(
                self.path.clone(),
                "the key does not match the public key",
            ));
        }
        Ok(kp)
    }
}

/// Writes a new keystore for `kp` at `path` (mode 0600, never overwriting), durably: the
/// bytes go to a temporary file that is synced, then linked into place (which fails if
/// `path` exists), and the directory is synced. A failure leaves no partial keystore.
pub fn create(path: &Path, kp: &Keypair, passphrase: &str) -> Result<(), KeystoreError> {
    install(path, &seal(kp, passphrase)?)
}

/// Writes keystore `bytes` at `path` as [`create`] does (0600, never overwriting, durable).
fn install(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    let io = |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Err(KeystoreError::Exists(path.to_path_buf()));
    }
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let tmp = synced_temp(&dir, "keystore", bytes).map_err(io)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeystoreError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// Holds an exclusive lock on a keystore file while its key signs, so that two commands
/// using the same keystore at once cannot both sign the same sequence number (a fork).
pub fn lock(path: &Path) -> Result<std::fs::File, KeystoreError> {
    let f = std::fs::File::open(path).map_err(|source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    f.lock().map_err(|source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(f)
}

/// Where a passphrase comes from: a file given on the command line, else
/// `MUTUAL_PASSPHRASE`, else a prompt on the terminal (twice when `confirm`).
pub fn passphrase(file: Option<&Path>, prompt: &str, confirm: bool) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the passphrase file {}", f.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(p);
    }
    let first = rpassword::prompt_password(prompt).context(
        "cannot read a passphrase from the terminal; set MUTUAL_PASSPHRASE or pass --passphrase-file",
    )?;
    if confirm {
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the two passphrases differ");
    }
    Ok(first)
}

/// The environment variable a passphrase may be given in (for scripts).
pub const PASSPHRASE_ENV: &str = "MUTUAL_PASSPHRASE";

#[cfg(test)]
mod tests {
    use super::*;

    fn kp() -> Keypair {
        Keypair::generate(&mut OsRng)
    }

    #[test]
    fn opens_with_the_right_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.keystore");
        let k = kp();
        create(&path, &k, "correct horse").unwrap();
        let ks = Keystore::read(&path).unwrap();
        assert_eq!(ks.public(), k.public());
        assert_eq!(ks.open("correct horse").unwrap().public(), k.public());
        let e = ks.open("correct horsf").unwrap_err();
        assert!(matches!(e, KeystoreError::WrongPassphrase(_)), "{e}");
        assert!(e.to_string().contains("wrong passphrase"));
        // Never overwrites.
        assert!(matches!(
            create(&path, &kp(), "correct horse"),
            Err(KeystoreError::Exists(_))
        ));
        assert_eq!(Keystore::read(&path).unwrap().public(), k.public());
    }

    #[test]
    fn a_short_passphrase_is_refused_at_the_limit_plus_one() {
        let k = kp();
        let short = "x".repeat(MIN_PASSPHRASE_CHARS - 1);
        assert!(matches!(
            seal(&k, &short),
            Err(KeystoreError::WeakPassphrase)
        ));
        seal(&k, &"x".repeat(MIN_PASSPHRASE_CHARS)).unwrap();
    }

    #[test]
    fn every_tampered_byte_is_detected() {
        let k = kp();
        let b = seal(&k, "passphrase").unwrap();
        let p = Path::new("t");
        for i in 0..KEYSTORE_LEN {
            let mut t = b;
            t[i] ^= 0x01;
            let opened = Keystore::parse(p, &t).and_then(|ks| ks.open("passphrase"));
            assert!(opened.is_err(), "flipping byte {i} went unnoticed");
        }
    }

    #[test]
    fn costs_beyond_the_limits_are_refused_before_any_work() {
        let b = seal(&kp(), "passphrase").unwrap();
        let p = Path::new("t");
        let mut t = b;
        t[16..20].copy_from_slice(&MAX_MEMORY_KIB.to_be_bytes());
        t[20..24].copy_from_slice(&MAX_PASSES.to_be_bytes());
        Keystore::parse(p, &t).unwrap();
        let mut t = b;
        t[16..20].copy_from_slice(&(MAX_MEMORY_KIB + 1).to_be_bytes());
        assert!(matches!(
            Keystore::parse(p, &t),
            Err(KeystoreError::Format(..))
        ));
        let mut t = b;
        t[20..24].copy_from_slice(&(MAX_PASSES + 1).to_be_bytes());
        assert!(matches!(
            Keystore::parse(p, &t),
            Err(KeystoreError::Format(..))
        ));
        assert!(matches!(
            Keystore::parse(p, &b[..100]),
            Err(KeystoreError::Format(..))
        ));
        assert!(matches!(
            Keystore::parse(p, b"hello"),
            Err(KeystoreError::Format(..))
        ));
    }
}

/// The suffix of the file beside a keystore that records the last event it signed.
pub const RECORD_SUFFIX: &str = ".last";

/// The last event a keystore's key signed, recorded in `<keystore>.last` beside it
/// (JSON: `key`, `network`, `seq`, `event`). A partner who signs from two machines, or from a
/// laptop restored from an old copy, could otherwise sign a second event at a seq already
/// used, forking their feed and silencing the key for good. With the record, `mutual`
/// refuses to sign an event the node places at or before the recorded seq (the node has not
/// seen the last event yet), or after another event than the recorded one. A second device
/// is set up with `mutual keystore export` and `import`, which carry the record.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    path: PathBuf,
    last: Option<Recorded>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Recorded {
    #[serde(default)]
    key: String,
    network: String,
    seq: u64,
    event: String,
}

impl FeedRecord {
    /// The record beside `keystore` (empty if there is none yet).
    pub fn load(keystore: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let path = record_path(keystore);
        let last = match std::fs::read_to_string(&path) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a keystore record", path.display()))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(FeedRecord { path, last })
    }

    /// The recorded seq and event id, if any.
    pub fn last(&self) -> Option<(u64, &str)> {
        self.last.as_ref().map(|r| (r.seq, r.event.as_str()))
    }

    /// Refuses to sign `ev` if it would fork the feed as recorded.
    pub fn check(&self, ev: &mutual_protocol::event::SignedEvent) -> anyhow::Result<()> {
        let Some(r) = &self.last else { return Ok(()) };
        // A record of another key (the keystore was replaced) or another log says nothing.
        if ev.event.network.map(|n| n.to_string()).as_deref() != Some(r.network.as_str())
            || r.key != ev.event.author.to_string()
        {
            return Ok(());
        }
        let seq = ev.event.seq;
        if seq <= r.seq {
            anyhow::bail!(
                "this keystore last signed event {} at seq {}, which the node has not seen \
                 (it offers seq {seq}); signing now would fork your feed. Nothing was signed: \
                 wait for the node to receive that event, or use the node you used then",
                short(&r.event),
                r.seq
            );
        }
        let prev = ev.event.prev.map(|p| p.to_string()).unwrap_or_default();
        if seq == r.seq + 1 && prev != r.event {
            anyhow::bail!(
                "the node holds another event at seq {} than event {} this keystore signed \
                 there: the key has signed from two places. Nothing was signed; ask the \
                 partners to replace the key if it is not yours",
                r.seq,
                short(&r.event)
            );
        }
        Ok(())
    }

    /// Records `ev` as the last event signed (if it is later than the record), durably
    /// (a temporary file synced and renamed into place), before the event is handed out:
    /// a record that could not be written would let a later signature fork the feed.
    pub fn note(&mut self, ev: &mutual_protocol::event::SignedEvent) -> anyhow::Result<()> {
        use anyhow::Context;
        let key = ev.event.author.to_string();
        if self
            .last
            .as_ref()
            .is_some_and(|r| r.key == key && r.seq >= ev.event.seq)
        {
            return Ok(());
        }
        let Some(network) = ev.event.network else {
            return Ok(());
        };
        let r = Recorded {
            key,
            network: network.to_string(),
            seq: ev.event.seq,
            event: ev.id.to_string(),
        };
        write_atomically(&self.path, &serde_json::to_vec_pretty(&r)?)
            .with_context(|| format!("cannot record the event in {}", self.path.display()))?;
        self.last = Some(r);
        Ok(())
    }

    /// The record as it stands, to put back with [`FeedRecord::restore`].
    pub fn snapshot(&self) -> FeedRecord {
        self.clone()
    }

    /// Puts back an earlier record (after the node refused the event outright, so its seq
    /// was not used).
    pub fn restore(&mut self, earlier: FeedRecord) -> anyhow::Result<()> {
        match &earlier.last {
            Some(r) => write_atomically(&self.path, &serde_json::to_vec_pretty(r)?)?,
            None => match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            },
        }
        self.last = earlier.last;
        Ok(())
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The record file of `keystore`.
pub fn record_path(keystore: &Path) -> PathBuf {
    let mut name = keystore.as_os_str().to_owned();
    name.push(RECORD_SUFFIX);
    PathBuf::from(name)
}

/// Writes `bytes` to `path` through a synced temporary file renamed into place (mode
/// 0600).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let tmp = synced_temp(&dir, "record", bytes)?;
    let written = std::fs::rename(&tmp, path);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(&dir)?.sync_all()
}

/// A new file in `dir` (mode 0600, a random name starting `.<what>-`) holding `bytes`,
/// synced: to be linked or renamed into place. Removed again if writing it fails.
fn synced_temp(dir: &Path, what: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let mut nonce = [0u8; 8];
    OsRng.fill_bytes(&mut nonce);
    let tmp = dir.join(format!(".{what}-{}.tmp", hex::encode(nonce)));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| tmp)
}

/// The format name of a keystore export.
pub const EXPORT_FORMAT: &str = "mutual-keystore-export/1";

/// A keystore and the record of the last event it signed, in one file, to set up the
/// same key on a second device (`mutual keystore export`, then `import` there). The key
/// stays encrypted under the same passphrase. Each device keeps its own record from then
/// on; the node refuses an event at a seq its feed already has, whichever device signed
/// first.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Export {
    /// [`EXPORT_FORMAT`].
    pub format: String,
    /// The keystore's bytes, hex.
    pub keystore: String,
    /// The record (`<keystore>.last`), if the key has signed anything.
    pub record: Option<serde_json::Value>,
}

/// Writes the export of `keystore` to `out` (0600, never overwriting); returns its key.
pub fn export(keystore: &Path, out: &Path) -> anyhow::Result<PublicKey> {
    use anyhow::Context;
    let ks = Keystore::read(keystore)?;
    let record = match std::fs::read_to_string(record_path(keystore)) {
        Ok(text) => Some(serde_json::from_str(&text).context("the keystore's record")?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("reading the keystore's record"),
    };
    let body = serde_json::to_vec_pretty(&Export {
        format: EXPORT_FORMAT.into(),
        keystore: hex::encode(ks.bytes),
        record,
    })?;
    install(out, &body)?;
    Ok(ks.public())
}

/// Installs an export as a keystore at `out` (with its record), refusing to overwrite;
/// returns its key.
pub fn import(file: &Path, out: &Path) -> anyhow::Result<PublicKey> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let e: Export = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a keystore export", file.display()))?;
    if e.format != EXPORT_FORMAT {
        anyhow::bail!(
            "{}: format {:?}, expected {EXPORT_FORMAT:?}",
            file.display(),
            e.format
        );
    }
    let bytes = hex::decode(&e.keystore).context("the export's keystore is not hex")?;
    let ks = Keystore::parse(file, &bytes)?;
    install(out, &bytes)?;
    if let Some(r) = e.record {
        write_atomically(&record_path(out), &serde_json::to_vec_pretty(&r)?)?;
    }
    Ok(ks.public())
}
