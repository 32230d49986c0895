//! What partners' commands share: which node they talk to (`--dir` on the practice's
//! machine, or `--node URL` from anywhere), and turning what a person types (a short id
//! prefix, a partner's name) into the exact id or key, with the ambiguity explained.

use anyhow::{bail, Result};
use mutual_node::api;
use mutual_node::client::Client;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use std::path::PathBuf;

/// Shortest id or key prefix accepted, in hex digits.
pub(super) const MIN_PREFIX: usize = 4;

/// Which node a command talks to.
#[derive(clap::Args, Debug, Clone)]
pub(super) struct NodeArgs {
    /// The practice's data directory, on the node's own machine.
    #[arg(long)]
    pub(super) dir: Option<PathBuf>,
    /// A practice's node from anywhere, as http://HOST:PORT (no data directory, no token:
    /// partners sign with their own keystore).
    #[arg(long, env = "MUTUAL_NODE", conflicts_with = "dir")]
    pub(super) node: Option<String>,
    /// The node's TLS certificate (PEM), for an https:// --node: the one the practice's
    /// IT lead hands out (`mutual tls init` made it).
    #[arg(long, env = "MUTUAL_NODE_CERT")]
    pub(super) node_cert: Option<PathBuf>,
}

impl NodeArgs {
    /// The client for the chosen node.
    pub(super) fn client(&self) -> Result<Client> {
        Client::connect(
            self.dir.as_deref(),
            self.node.as_deref(),
            self.node_cert.as_deref(),
        )
    }
}

fn is_hex_prefix(s: &str) -> bool {
    s.len() >= MIN_PREFIX && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The one item whose id starts with `prefix` (case-insensitive), or why not.
pub(super) fn by_prefix<'a, T>(
    what: &str,
    prefix: &str,
    items: &'a [T],
    id: impl Fn(&T) -> &str,
    label: impl Fn(&T) -> String,
) -> Result<&'a T> {
    let p = prefix.trim().to_ascii_lowercase();
    if !is_hex_prefix(&p) {
        bail!("{prefix:?} is not a {what} id: give at least {MIN_PREFIX} of its hex digits");
    }
    let hits: Vec<&T> = items.iter().filter(|i| id(i).starts_with(&p)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => bail!("no {what} id starts with {p}"),
        many => bail!(
            "{p} is the start of {} {what} ids; give more digits:\n{}",
            many.len(),
            many.iter()
                .map(|i| format!("  {}  {}", id(i), label(i)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// The motion `prefix` names, with its view.
pub(super) fn motion(c: &Client, prefix: &str) -> Result<(EventId, api::MotionView)> {
    let list: Vec<api::MotionView> = c.get("/motions")?;
    let m = by_prefix(
        "motion",
        prefix,
        &list,
        |m| m.id.as_str(),
        |m| format!("{} ({})", m.title, m.kind),
    )?;
    let id = m.id.parse().map_err(|_| anyhow::anyhow!("bad motion id"))?;
    let view: api::MotionView = c.get(&format!("/motions/{id}"))?;
    Ok((id, view))
}

/// A partner named by their key, a prefix of it, or their name: their current key and
/// name. Only active partners are matched by name.
pub(super) fn partner(c: &Client, who: &str) -> Result<(PublicKey, String)> {
    let members: Vec<api::MemberView> = c.get("/members")?;
    partner_in(&members, who)
}

pub(super) fn partner_in(members: &[api::MemberView], who: &str) -> Result<(PublicKey, String)> {
    let all: Vec<&api::PartnerView> = members.iter().flat_map(|p| &p.partners).collect();
    let w = who.trim();
    let by_name: Vec<&api::PartnerView> = all
        .iter()
        .copied()
        .filter(|p| p.status == "active" && p.name.eq_ignore_ascii_case(w))
        .collect();
    let current: Vec<&api::PartnerView> =
        all.iter().copied().filter(|p| !p.key.is_empty()).collect();
    let chosen: &api::PartnerView = match by_name.as_slice() {
        [one] => one,
        [] => {
            if !is_hex_prefix(&w.to_ascii_lowercase()) {
                let near: Vec<&str> = all
                    .iter()
                    .filter(|p| p.name.to_lowercase().contains(&w.to_lowercase()))
                    .map(|p| p.name.as_str())
                    .collect();
                bail!(
                    "no partner is called {w:?}{}; give a name exactly, or a key (or at \
                     least {MIN_PREFIX} of its first hex digits)",
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!(" (did you mean {}?)", near.join(", "))
                    }
                );
            }
            by_prefix(
                "partner key",
                w,
                &current,
                |p| p.key.as_str(),
                |p| format!("{} ({})", p.name, p.status),
            )?
        }
        many => bail!(
            "{} partners are called {w:?}; give a key instead:\n{}",
            many.len(),
            many.iter()
                .map(|p| format!("  {}  {}", p.key, p.name))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    let key = chosen
        .key
        .parse()
        .map_err(|_| anyhow::anyhow!("{}'s key is revoked", chosen.name))?;
    Ok((key, chosen.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> String {
        mutual_protocol::keys::Keypair::from_seed(&[seed; 32])
            .expect("seed")
            .public()
            .to_string()
    }

    fn members() -> Vec<api::MemberView> {
        let partner = |name: &str, key: String| api::PartnerView {
            name: name.into(),
            id: key.clone(),
            key,
            role: "partner".into(),
            status: "active".into(),
            offices: Vec::new(),
        };
        vec![api::MemberView {
            name: "A".into(),
            ods: "A1".into(),
            locality: "North".into(),
            status: "active".into(),
            node_key: String::new(),
            partners: vec![partner("Dr Ann", key(1)), partner("Dr Bob", key(2))],
        }]
    }

    #[test]
    fn names_and_prefixes_find_one_partner_or_say_why_not() {
        let m = members();
        assert_eq!(partner_in(&m, "dr ann").expect("name").1, "Dr Ann");
        let bob = key(2);
        assert_eq!(
            partner_in(&m, &bob[..8].to_uppercase()).expect("prefix").1,
            "Dr Bob"
        );
        assert_eq!(partner_in(&m, &bob).expect("whole key").1, "Dr Bob");
        let e = partner_in(&m, &bob[..3])
            .expect_err("too short")
            .to_string();
        assert!(e.contains("no partner is called"), "{e}");
        let first = |k: &str| k.chars().next().expect("hex");
        let c = "0123456789abcdef"
            .chars()
            .find(|c| *c != first(&key(1)) && *c != first(&bob))
            .expect("a digit neither key starts with");
        let none = format!("{c}000");
        let e = partner_in(&m, &none).expect_err("none").to_string();
        assert!(
            e.contains(&format!("no partner key id starts with {none}")),
            "{e}"
        );
        let e = partner_in(&m, "Dr").expect_err("ambiguous").to_string();
        assert!(e.contains("did you mean Dr Ann, Dr Bob"), "{e}");
    }

    #[test]
    fn an_ambiguous_prefix_lists_the_candidates() {
        let items = vec!["abcd01".to_string(), "abcd02".to_string()];
        let e = by_prefix("motion", "abcd", &items, |s| s.as_str(), |s| s.clone())
            .expect_err("ambiguous")
            .to_string();
        assert!(
            e.contains("start of 2 motion ids") && e.contains("abcd02"),
            "{e}"
        );
        assert!(by_prefix("motion", "ABCD0", &items, |s| s.as_str(), |s| s.clone()).is_err());
        assert_eq!(
            by_prefix("motion", "ABCD02", &items, |s| s.as_str(), |s| s.clone()).expect("one"),
            "abcd02"
        );
    }
}
