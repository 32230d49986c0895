//! Key files: a 32-byte ed25519 seed, written once with mode 0600 and never overwritten.
//!
//! Format (text, so an IT lead can recognise it): the line `mutual-key-v1`, then the seed
//! as 64 hex digits, then a newline.

use mutual_protocol::keys::{Keypair, PublicKey, SECRET_KEY_LEN};
use rand_core::OsRng;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// First line of every key file.
pub const HEADER: &str = "mutual-key-v1";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Refusing to replace an existing key.
    #[error("{0} already exists; refusing to overwrite a key (move it away first if you mean to replace it)")]
    Exists(PathBuf),
    /// The file is readable by other users.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a Mutual key file.
    #[error("{0} is not a Mutual key file: {1}")]
    Format(PathBuf, &'static str),
    /// The filesystem failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates a new random key at `path` (mode 0600, parent directories created).
pub fn create(path: &Path) -> Result<Keypair, KeyFileError> {
    let kp = Keypair::generate(&mut OsRng);
    write(path, &kp)?;
    Ok(kp)
}

/// Writes `kp` to a new file at `path` with mode 0600, durably.
pub fn write(path: &Path, kp: &Keypair) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists(path.to_path_buf())
            } else {
                io(path)(e)
            }
        })?;
    writeln!(f, "{HEADER}\n{}", hex::encode(kp.seed())).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    // The directory too, so the file's name survives a crash.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

/// Reads a key file, refusing one that other users can read.
pub fn read(path: &Path) -> Result<Keypair, KeyFileError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = std::fs::read(path).map_err(io(path))?;
    parse(&bytes).map_err(|why| KeyFileError::Format(path.to_path_buf(), why))
}

/// Parses a key file's contents; the error says what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Keypair, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not text")?;
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err("missing the mutual-key-v1 header");
    }
    let hex_seed = lines.next().ok_or("missing the key line")?;
    let mut seed = [0u8; SECRET_KEY_LEN];
    hex::decode_to_slice(hex_seed.trim(), &mut seed)
        .map_err(|_| "the key line is not 64 hex digits")?;
    Keypair::from_seed(&seed).ok_or("the key is weak")
}

/// The libp2p PeerId of a node key: the same ed25519 key, seen by libp2p.
pub fn peer_id(kp: &Keypair) -> libp2p::identity::PeerId {
    libp2p_keypair(kp).public().to_peer_id()
}

/// The node key as a libp2p keypair, for the node's libp2p identity.
pub fn libp2p_keypair(kp: &Keypair) -> libp2p::identity::Keypair {
    let mut seed = kp.seed();
    // Infallible for 32 bytes; the seed buffer is zeroed by libp2p after use.
    libp2p::identity::Keypair::ed25519_from_bytes(&mut seed)
        .unwrap_or_else(|_| unreachable!("32-byte ed25519 seed"))
}

/// The libp2p PeerId of a Mutual public key (a practice node's key).
pub fn peer_of(pk: &PublicKey) -> libp2p::identity::PeerId {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(pk.as_bytes())
        .expect("a valid Mutual key is a valid ed25519 key");
    libp2p::identity::PublicKey::from(ed).to_peer_id()
}

/// The Mutual public key behind a libp2p PeerId, if it is an inline ed25519 key.
pub fn public_key_of_peer(peer: &libp2p::identity::PeerId) -> Option<PublicKey> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None; // not an identity multihash, so the key is not inline
    }
    let pk = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let ed = pk.try_into_ed25519().ok()?;
    PublicKey::from_slice(&ed.to_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The core reads node keys out of textual addresses without libp2p; it must read
    /// what libp2p writes.
    #[test]
    fn the_core_reads_a_peer_id_as_libp2p_writes_it() {
        use crate::core::federations::{bootstrap_key, peer_id_key};
        let kp = Keypair::from_seed(&[7; 32]).expect("key");
        let peer = peer_of(&kp.public());
        let addr = format!("/ip4/127.0.0.1/tcp/7700/p2p/{peer}");
        assert_eq!(bootstrap_key(&addr), Some(kp.public()));
        assert_eq!(peer_id_key(&peer.to_string()), Some(kp.public()));
        assert_eq!(bootstrap_key("/ip4/127.0.0.1/tcp/7700"), None);
        assert_eq!(bootstrap_key("/ip4/127.0.0.1/tcp/7700/p2p/0OIl"), None);
    }

    #[test]
    fn key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/node.key");
        let kp = create(&path).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).expect("read").public(), kp.public());
        assert!(matches!(create(&path), Err(KeyFileError::Exists(_))));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(read(&path), Err(KeyFileError::TooOpen { .. })));
    }

    #[test]
    fn damaged_key_files_give_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in [
            ("a", "hello\n"),
            ("b", "mutual-key-v1\nzz\n"),
            ("c", "mutual-key-v1\n"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, body).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            assert!(matches!(read(&p), Err(KeyFileError::Format(..))), "{name}");
        }
    }

    #[test]
    fn the_node_key_is_the_libp2p_identity() {
        let kp = Keypair::from_seed(&[5u8; 32]).expect("key");
        let peer = peer_id(&kp);
        assert_eq!(public_key_of_peer(&peer), Some(kp.public()));
        assert_eq!(peer_of(&kp.public()), peer);
        // And libp2p signs with the same key: its signature verifies under our rule.
        let lp = libp2p_keypair(&kp);
        let sig = lp.sign(b"mutual/v1/event\0abc").expect("sign");
        let sig: [u8; 64] = sig.as_slice().try_into().expect("64 bytes");
        assert!(mutual_protocol::signature::verify(
            &mutual_protocol::signature::Item {
                key: &kp.public(),
                domain: mutual_protocol::signature::EVENT_DOMAIN,
                message: b"abc",
                signature: &sig,
            }
        ));
    }
}
