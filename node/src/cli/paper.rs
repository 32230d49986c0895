//! `mutual paper` and `--attach`: the files a motion or an aid request carries
//! (docs/PROTOCOL.md §8.13). A file attached is read and hashed here, checked against the
//! limits before anything is signed, named in the event by its SHA-256 and size, and its
//! bytes sent to the node once the event is stored; every other node fetches it from its
//! peers and checks it against the hash.

use super::resolve::NodeArgs;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mutual_node::api::{self, papers::paper_line, PaperRef};
use mutual_node::client::Client;
use mutual_node::core::PaperStored;
use mutual_proto::v1 as pb;
use mutual_protocol::event::paper_name_ok;
use mutual_protocol::limits::{MAX_PAPERS_PER_EVENT, MAX_PAPER_BYTES};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum PaperCommand {
    /// Every paper the partnership's events name, with whether this node holds each (a
    /// node fetches the ones it lacks from its peers).
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Save a paper the node holds to a file, checked against its SHA-256.
    Get {
        #[command(flatten)]
        node: NodeArgs,
        /// The paper's SHA-256, or its first hex digits (at least 4).
        sha256: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Send a file to the node again: one an event names whose bytes the node does not
    /// hold (if sending it after the event failed).
    Put {
        #[command(flatten)]
        node: NodeArgs,
        /// The file.
        file: PathBuf,
    },
}

/// A file attached to an event being built: what the event names, and where its bytes
/// are.
pub(super) struct Attached {
    pub(super) paper: pb::Paper,
    pub(super) path: PathBuf,
    /// The bytes hashed: what is sent, whatever becomes of the file meanwhile.
    bytes: Vec<u8>,
}

/// A media type from a file's extension, for people: the node serves every paper as a
/// download whatever it says.
fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "md" => "text/plain",
        "csv" => "text/csv",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xls" => "application/vnd.ms-excel",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "doc" => "application/msword",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Reads and hashes the files given with `--attach`, refusing (before anything is
/// signed) more than [`MAX_PAPERS_PER_EVENT`], an empty file, one over
/// [`MAX_PAPER_BYTES`], a name no one could save, and the same file twice.
pub(super) fn attach(paths: &[PathBuf]) -> Result<Vec<Attached>> {
    if paths.len() > MAX_PAPERS_PER_EVENT {
        bail!(
            "{} files attached; an event carries at most {MAX_PAPERS_PER_EVENT}",
            paths.len()
        );
    }
    let mut out: Vec<Attached> = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("--attach {}", path.display()))?;
        if meta.len() > MAX_PAPER_BYTES {
            bail!(
                "{} is {} bytes, over the limit of {MAX_PAPER_BYTES} bytes (16 MiB) for one \
                 paper; nothing was signed",
                path.display(),
                meta.len()
            );
        }
        if meta.len() == 0 {
            bail!("{} is empty; nothing was signed", path.display());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !paper_name_ok(&name) || name.len() > mutual_protocol::limits::MAX_NAME_BYTES {
            bail!("{}: rename the file to something plainer", path.display());
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sha256 = Sha256::digest(&bytes).to_vec();
        if out.iter().any(|a| a.paper.sha256 == sha256) {
            bail!("{} is attached twice", path.display());
        }
        out.push(Attached {
            paper: pb::Paper {
                name,
                sha256,
                size: bytes.len() as u64,
                media_type: media_type(path).into(),
            },
            path: path.clone(),
            bytes,
        });
    }
    Ok(out)
}

/// Refuses, before anything is signed, papers the node has no room to keep.
pub(super) fn check_room(c: &Client, attached: &[Attached]) -> Result<()> {
    if attached.is_empty() {
        return Ok(());
    }
    let v: api::PapersView = c.get("/papers")?;
    let held = |a: &Attached| {
        let h = hex::encode(&a.paper.sha256);
        v.papers.iter().any(|p| p.sha256 == h && p.held)
    };
    let need: u64 = attached
        .iter()
        .filter(|a| !held(a))
        .map(|a| a.paper.size)
        .sum();
    let room = v.room.unwrap_or(u64::MAX);
    if need > room {
        bail!(
            "the node's paper store has room for {} more; these papers need {}; nothing was \
             signed (its operator can raise paper_store_bytes)",
            api::papers::size_words(room),
            api::papers::size_words(need)
        );
    }
    Ok(())
}

/// The attached files as the API names them.
pub(super) fn refs(attached: &[Attached]) -> Vec<PaperRef> {
    attached
        .iter()
        .map(|a| PaperRef {
            name: a.paper.name.clone(),
            sha256: hex::encode(&a.paper.sha256),
            size: a.paper.size,
            media_type: a.paper.media_type.clone(),
        })
        .collect()
}

/// Sends a paper's bytes to the node.
pub(super) fn put(c: &Client, bytes: &[u8]) -> Result<PaperStored> {
    let path = format!("/papers/{}", hex::encode(Sha256::digest(bytes)));
    let answer = c.put_large(&path, bytes)?;
    Ok(serde_json::from_slice(&answer)?)
}

/// Sends the attached files' bytes to the node, once the event that names them is
/// stored. A failure says how to send the file again.
pub(super) fn send(c: &Client, attached: &[Attached]) -> Result<()> {
    for a in attached {
        put(c, &a.bytes).with_context(|| {
            format!(
                "the event is stored, but {} did not reach the node; send it again with \
                 `mutual paper put {}`",
                a.paper.name,
                a.path.display()
            )
        })?;
        eprintln!(
            "paper {} sent ({})",
            a.paper.name,
            api::papers::size_words(a.paper.size)
        );
    }
    Ok(())
}

pub(super) fn paper_command(json: bool, p: PaperCommand) -> Result<()> {
    match p {
        PaperCommand::List { node } => {
            let v: api::PapersView = node.client()?.get("/papers")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            println!(
                "{} of {} papers held here ({}){}",
                v.held,
                v.named,
                api::papers::size_words(v.bytes_held),
                if v.fetching > 0 {
                    format!("; {} being fetched", v.fetching)
                } else {
                    String::new()
                }
            );
            for p in &v.papers {
                println!("  {}", paper_line(p));
            }
        }
        PaperCommand::Get { node, sha256, out } => {
            let c = node.client()?;
            let bytes = c.request("GET", &format!("/papers/{}", sha256.trim()), "", &[], false)?;
            let v: api::PapersView = c.get("/papers")?;
            let digest = hex::encode(Sha256::digest(&bytes));
            let Some(named) = v.papers.iter().find(|p| p.sha256 == digest) else {
                bail!("the node sent bytes that match no paper it names; nothing was written");
            };
            if !digest.starts_with(&sha256.trim().to_ascii_lowercase()) {
                bail!("the node sent another paper than the one asked for; nothing was written");
            }
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(named)?);
            } else {
                println!(
                    "{} written to {} (SHA-256 checked)",
                    named.name,
                    out.display()
                );
            }
        }
        PaperCommand::Put { node, file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let s = put(&node.client()?, &bytes)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else if s.already {
                println!("the node already holds {} ({})", file.display(), s.sha256);
            } else {
                println!("{} stored by the node ({})", file.display(), s.sha256);
            }
        }
    }
    Ok(())
}
