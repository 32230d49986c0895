//! `mutual key` and `mutual keystore`: practice node keys and partners' keystores, and
//! the keystore arguments every partner's command takes.

use super::resolve::NodeArgs;
use anyhow::Result;
use clap::Subcommand;
use mutual_node::client::Client;
use mutual_node::{daemon, keyfile, keystore};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::keys::Keypair;
use std::path::PathBuf;

/// Which keystore signs, and its passphrase.
#[derive(clap::Args)]
pub(super) struct KeyArgs {
    /// Your keystore (from `mutual keystore new`; default ~/.mutual/keystore).
    #[arg(long, env = "MUTUAL_KEYSTORE")]
    pub(super) keystore: Option<PathBuf>,
    /// Read the passphrase from this file (else MUTUAL_PASSPHRASE, else a prompt).
    #[arg(long)]
    pub(super) passphrase_file: Option<PathBuf>,
}

/// Where a partner's keystore is when none is named: in their own home, never in a
/// node's data directory.
pub(super) fn default_keystore() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no --keystore given and HOME is not set"))?;
    Ok(PathBuf::from(home).join(".mutual").join("keystore"))
}

impl KeyArgs {
    /// The keystore's path.
    pub(super) fn path(&self) -> Result<PathBuf> {
        match &self.keystore {
            Some(p) => Ok(p.clone()),
            None => default_keystore(),
        }
    }

    /// The key, and a lock on its keystore to hold while it signs.
    pub(super) fn open(&self) -> Result<(Keypair, std::fs::File)> {
        let (kp, _, lock) = self.open_with_passphrase()?;
        Ok((kp, lock))
    }

    /// The key, the passphrase that opened it, and a lock on the keystore.
    pub(super) fn open_with_passphrase(&self) -> Result<(Keypair, String, std::fs::File)> {
        let path = self.path()?;
        let lock = keystore::lock(&path)?;
        let ks = keystore::Keystore::read(&path)?;
        let p = keystore::passphrase(
            self.passphrase_file.as_deref(),
            &format!("passphrase for {}: ", path.display()),
            false,
        )?;
        let kp = ks.open(&p)?;
        Ok((kp, p, lock))
    }

    /// Opens the keystore, has the node prepare `body` (a motion open for `voting_ms`),
    /// signs it and hands it to the node, keeping the keystore's record of its last event
    /// (`keystore::FeedRecord`) so that it cannot fork its own feed.
    pub(super) fn sign_and_submit(
        &self,
        c: &Client,
        body: Body,
        voting_ms: Option<u64>,
    ) -> Result<mutual_node::node::Submitted> {
        let (kp, _lock) = self.open()?;
        let mut record = keystore::FeedRecord::load(&self.path()?)?;
        c.sign_and_submit_with(&kp, body, voting_ms, Some(&mut record))
    }
}

#[derive(Subcommand)]
pub(super) enum KeystoreCommand {
    /// Create a new partner key in a keystore encrypted with a passphrase (mode 0600;
    /// never overwrites). Give the printed key to whoever founds or admits you.
    New {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// Read the passphrase from this file (else MUTUAL_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Show a keystore's public key (no passphrase needed).
    Show {
        /// The keystore.
        file: PathBuf,
    },
    /// Write your keystore and the record of the last event it signed to one file, to set
    /// up the same key on a second device (`mutual keystore import` there). Copying the
    /// keystore alone would leave the other device without the record that stops it
    /// signing at a seq already used.
    Export {
        /// The keystore (default ~/.mutual/keystore).
        #[arg(long, env = "MUTUAL_KEYSTORE")]
        keystore: Option<PathBuf>,
        /// Where to write the export (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Install a keystore export on this device (never overwriting a keystore).
    Import {
        /// The export file.
        file: PathBuf,
        /// Where to put the keystore (default ~/.mutual/keystore).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace your key with a new one: writes a new keystore (same passphrase) and has
    /// your node pass on the rotation, signed by both keys.
    Rotate {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Where to write the new keystore.
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke your key (lost or exposed); the partners then vote a replacement in
    /// (a replace-key motion).
    Revoke {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(super) enum KeyCommand {
    /// Create a new key file (mode 0600; never overwrites).
    New {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a key file's public key, fingerprint and libp2p PeerId.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

pub(super) fn print_key(json: bool, kp: &mutual_protocol::keys::Keypair, file: &std::path::Path) {
    let public = kp.public().to_string();
    let fingerprint = kp.public().fingerprint().to_string();
    let peer = keyfile::peer_id(kp).to_string();
    if json {
        println!(
            "{}",
            serde_json::json!({"file": file, "public_key": public, "fingerprint": fingerprint, "peer_id": peer})
        );
    } else {
        println!("key file     {}", file.display());
        println!("public key   {public}");
        println!("fingerprint  {fingerprint}");
        println!("peer id      {peer}");
    }
}

pub(super) fn keystore_command(json: bool, k: KeystoreCommand) -> Result<()> {
    let show = |verb: &str, file: &std::path::Path, key: &mutual_protocol::keys::PublicKey| {
        if json {
            println!(
                "{}",
                serde_json::json!({"file": file, "key": key.to_string(), "fingerprint": key.fingerprint().to_string()})
            );
        } else {
            println!("{verb} {}", file.display());
            println!("key          {key}");
            println!("fingerprint  {}", key.fingerprint());
        }
    };
    match k {
        KeystoreCommand::New {
            out,
            passphrase_file,
        } => {
            let p = keystore::passphrase(
                passphrase_file.as_deref(),
                "passphrase for the new keystore: ",
                true,
            )?;
            let kp = Keypair::generate(&mut rand_core::OsRng);
            keystore::create(&out, &kp, &p)?;
            show("keystore", &out, &kp.public());
            if !json {
                println!(
                    "next: give the key above to whoever founds the network or proposes admitting you"
                );
            }
        }
        KeystoreCommand::Show { file } => {
            let ks = keystore::Keystore::read(&file)?;
            show("keystore", &file, &ks.public());
        }
        KeystoreCommand::Export { keystore: k, out } => {
            let path = match k {
                Some(p) => p,
                None => default_keystore()?,
            };
            let key = keystore::export(&path, &out)?;
            show("exported to", &out, &key);
            if !json {
                println!(
                    "copy it to the other device and run `mutual keystore import {}` there; \
                     it is encrypted under the same passphrase",
                    out.display()
                );
            }
        }
        KeystoreCommand::Import { file, out } => {
            let out = match out {
                Some(p) => p,
                None => default_keystore()?,
            };
            let key = keystore::import(&file, &out)?;
            show("keystore", &out, &key);
        }
        KeystoreCommand::Rotate { node, key, out } => {
            let (old, passphrase, _lock) = key.open_with_passphrase()?;
            let c = node.client()?;
            let status: serde_json::Value = c.get("/status")?;
            let network = daemon::parse_network(status["network"].as_str().unwrap_or(""))?;
            let new = Keypair::generate(&mut rand_core::OsRng);
            // The new keystore (same passphrase) is written durably before the rotation is
            // sent, so the new key can never be in force without being saved.
            keystore::create(&out, &new, &passphrase)?;
            let proof = new.sign(
                mutual_protocol::signature::ROTATE_DOMAIN,
                &mutual_protocol::membership::rotation_message(&network, &old.public()),
            );
            let body = Body::KeyRotation(pb::KeyRotation {
                new_key: new.public().as_bytes().to_vec(),
                new_key_signature: proof.to_vec(),
            });
            if let Err(e) = c.sign_and_submit(&old, body) {
                // Only a clear refusal means the rotation can never take effect; after any
                // other failure (a timeout, a lost answer) it may still, so the new key is kept.
                if mutual_node::client::refused_outright(&e) {
                    let aside = out.with_extension("unused");
                    let _ = std::fs::rename(&out, &aside);
                    return Err(e.context(format!(
                        "the rotation was refused and not stored; the new keystore was set \
                         aside as {}",
                        aside.display()
                    )));
                }
                return Err(e.context(format!(
                    "the rotation may or may not have taken effect; keep {} and check \
                     `mutual members` for which key is yours",
                    out.display()
                )));
            }
            show("rotated; new keystore", &out, &new.public());
            if !json {
                println!(
                    "the old keystore {} no longer signs; keep it or destroy it",
                    key.path()?.display()
                );
            }
        }
        KeystoreCommand::Revoke { node, key, reason } => {
            let c = node.client()?;
            let public = keystore::Keystore::read(&key.path()?)?.public();
            let s = key.sign_and_submit(
                &c,
                Body::KeyRevocation(pb::KeyRevocation {
                    key: public.as_bytes().to_vec(),
                    reason,
                }),
                None,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "key {} revoked ({}); the partners can vote you a new key with a \
                     replace-key motion",
                    public, s.id
                );
            }
        }
    }
    Ok(())
}
