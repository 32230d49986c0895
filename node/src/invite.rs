//! One-line invites (docs/NETWORK.md §2.1): `mutual-invite:` and the hex of a signed
//! `Invitation` event that names the invited node's key, an expiry and the inviting node's
//! addresses.

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::MAX_EVENT_BYTES;

/// What every invite line starts with.
pub const PREFIX: &str = "mutual-invite:";
/// Longest invite line accepted, in characters: the prefix and a maximal event in hex.
pub const MAX_INVITE_CHARS: usize = PREFIX.len() + 2 * (MAX_EVENT_BYTES + 128);

/// Why an invite cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    /// Not an invite line at all.
    #[error("not an invite: {0}")]
    Malformed(String),
    /// Its signature does not verify.
    #[error("the invite's signature does not verify; ask for a new invite")]
    BadSignature,
    /// It is for another node.
    #[error("this invite is for node key {invited}, not this node's key {mine}; send the inviter this node's key (from `mutual init`)")]
    NotForThisNode {
        /// The key invited.
        invited: String,
        /// This node's key.
        mine: String,
    },
    /// It has lapsed.
    #[error("this invite expired at {expires_ms} ms since the epoch ({ago_hours} hours ago); ask for a new one")]
    Expired {
        /// When it lapsed.
        expires_ms: u64,
        /// How long ago, in whole hours.
        ago_hours: u64,
    },
    /// It names no address to connect to.
    #[error("the invite names no address ending in /p2p/<peer id> to connect to")]
    NoAddress,
}

/// A checked invite.
#[derive(Debug, Clone)]
pub struct Invite {
    /// The network to join.
    pub network: NetworkId,
    /// Where to connect.
    pub bootstrap: Vec<String>,
    /// When it lapses.
    pub expires_ms: u64,
    /// Who signed it.
    pub inviter: PublicKey,
    /// The practice invited.
    pub practice_name: String,
    /// Its ODS code.
    pub ods_code: String,
    /// The invitation event itself.
    pub event: SignedEvent,
}

/// The invite line for an invitation event's wire bytes.
pub fn encode(wire: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(wire))
}

/// Reads and checks an invite line for the node with key `me` at local time `now_ms`.
pub fn decode(line: &str, me: &PublicKey, now_ms: u64) -> Result<Invite, InviteError> {
    let bad = |s: &str| InviteError::Malformed(s.to_string());
    if line.len() > 2 * MAX_INVITE_CHARS {
        return Err(bad("longer than any invite"));
    }
    // Mail programs wrap long lines: whitespace anywhere is dropped.
    let line: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    if line.len() > MAX_INVITE_CHARS {
        return Err(bad("longer than any invite"));
    }
    let hex_part = line
        .strip_prefix(PREFIX)
        .ok_or_else(|| bad("it should start with `mutual-invite:`"))?;
    let wire = hex::decode(hex_part).map_err(|_| bad("damaged (not hex); copy the whole line"))?;
    let event = SignedEvent::decode(&wire)
        .map_err(|e| InviteError::Malformed(format!("damaged ({e}); copy the whole line")))?;
    if !event.verify_signature() {
        return Err(InviteError::BadSignature);
    }
    let Some(Body::Invitation(inv)) = &event.event.body else {
        return Err(bad("the signed event is not an invitation"));
    };
    let inv: pb::Invitation = inv.clone();
    let network = event
        .event
        .network
        .ok_or_else(|| bad("the event names no network"))?;
    let invited = PublicKey::from_slice(&inv.node_key).map_err(|_| bad("invalid node key"))?;
    if invited != *me {
        return Err(InviteError::NotForThisNode {
            invited: invited.to_string(),
            mine: me.to_string(),
        });
    }
    if inv.expires_ms <= now_ms {
        return Err(InviteError::Expired {
            expires_ms: inv.expires_ms,
            ago_hours: (now_ms - inv.expires_ms) / 3_600_000,
        });
    }
    let bootstrap: Vec<String> = inv
        .bootstrap
        .iter()
        .filter(|a| {
            a.parse::<Multiaddr>()
                .is_ok_and(|m| matches!(m.iter().last(), Some(Protocol::P2p(_))))
        })
        .cloned()
        .collect();
    if bootstrap.is_empty() {
        return Err(InviteError::NoAddress);
    }
    Ok(Invite {
        network,
        bootstrap,
        expires_ms: inv.expires_ms,
        inviter: event.event.author,
        practice_name: inv.practice_name,
        ods_code: inv.ods_code,
        event,
    })
}

fn is_loopback(m: &Multiaddr) -> bool {
    m.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn with_peer(m: Multiaddr, peer: &str) -> String {
    if matches!(m.iter().last(), Some(Protocol::P2p(_))) {
        m.to_string()
    } else {
        format!("{m}/p2p/{peer}")
    }
}

/// The addresses among `listen` another node could dial, each ending in `/p2p/<peer>`:
/// unspecified addresses (0.0.0.0, ::) are left out, and loopback ones too unless there
/// is nothing else (a partnership run on one machine, as in `mutual demo`).
pub fn dialable(listen: &[String], peer: &str) -> Vec<String> {
    let addrs: Vec<Multiaddr> = listen
        .iter()
        .filter_map(|a| a.parse::<Multiaddr>().ok())
        .filter(|m| {
            !m.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_unspecified(),
                Protocol::Ip6(ip) => ip.is_unspecified(),
                _ => false,
            })
        })
        .collect();
    let only_loopback = addrs.iter().all(is_loopback);
    let mut out: Vec<String> = addrs
        .into_iter()
        .filter(|m| only_loopback || !is_loopback(m))
        .map(|m| with_peer(m, peer))
        .collect();
    out.sort();
    out.dedup();
    out.truncate(mutual_protocol::limits::MAX_LIST_LEN);
    out
}

/// Addresses given by an operator (`mutual invite --address`): each must be a multiaddr;
/// `/p2p/<peer>` is appended where missing, and one naming another peer is refused.
pub fn normalise(given: &[String], peer: &str) -> Result<Vec<String>, String> {
    if given.len() > mutual_protocol::limits::MAX_LIST_LEN {
        return Err(format!(
            "at most {} addresses",
            mutual_protocol::limits::MAX_LIST_LEN
        ));
    }
    given
        .iter()
        .map(|a| {
            let m: Multiaddr = a
                .trim()
                .parse()
                .map_err(|_| format!("{a:?} is not a multiaddr like /ip4/192.0.2.7/tcp/7700"))?;
            match m.iter().last() {
                Some(Protocol::P2p(p)) if p.to_string() != peer => {
                    Err(format!("{a:?} names peer {p}, not this node ({peer})"))
                }
                _ => Ok(with_peer(m, peer)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::event::FeedWriter;
    use mutual_protocol::keys::Keypair;
    use rand_core::OsRng;

    fn invitation(expires_ms: u64, key: &PublicKey, bootstrap: Vec<String>) -> Vec<u8> {
        let founder = Keypair::generate(&mut OsRng);
        let g = pb::Genesis {
            name: "Test".into(),
            ..Default::default()
        };
        let (mut w, _) = FeedWriter::found(founder, 1_000, g);
        w.sign(
            2_000,
            Vec::new(),
            Body::Invitation(pb::Invitation {
                node_key: key.as_bytes().to_vec(),
                expires_ms,
                practice_name: "New".into(),
                ods_code: "N1".into(),
                bootstrap,
            }),
        )
        .to_wire()
    }

    const ADDR: &str =
        "/ip4/127.0.0.1/tcp/7700/p2p/12D3KooWGzUQCm4Jxz5ZwQBMyZ8Yk6WcfBDEvV3RiyNo8dNFyK4h";

    #[test]
    fn a_good_invite_reads_back() {
        let me = Keypair::generate(&mut OsRng).public();
        let line = encode(&invitation(10_000, &me, vec![ADDR.into()]));
        let inv = decode(&format!("  {line}\n"), &me, 5_000).unwrap();
        assert_eq!(inv.bootstrap, vec![ADDR.to_string()]);
        assert_eq!(inv.expires_ms, 10_000);
        assert_eq!(inv.network, inv.event.event.network.unwrap());
    }

    #[test]
    fn bad_invites_say_what_is_wrong() {
        let me = Keypair::generate(&mut OsRng).public();
        let other = Keypair::generate(&mut OsRng).public();
        let line = encode(&invitation(10_000, &me, vec![ADDR.into()]));
        // Expired: at the expiry itself and after.
        assert!(matches!(
            decode(&line, &me, 10_000),
            Err(InviteError::Expired { .. })
        ));
        assert!(decode(&line, &me, 9_999).is_ok());
        assert!(matches!(
            decode(&line, &other, 5_000),
            Err(InviteError::NotForThisNode { .. })
        ));
        assert!(matches!(
            decode("hello", &me, 5_000),
            Err(InviteError::Malformed(_))
        ));
        // Truncated on copying.
        assert!(matches!(
            decode(&line[..line.len() - 10], &me, 5_000),
            Err(InviteError::Malformed(_))
        ));
        // A flipped hex digit in the signed bytes.
        let mut tampered = line.clone().into_bytes();
        let i = PREFIX.len() + 40;
        tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(decode(&tampered, &me, 5_000).is_err());
        let no_addr = encode(&invitation(10_000, &me, vec!["/ip4/1.2.3.4/tcp/1".into()]));
        assert_eq!(
            decode(&no_addr, &me, 5_000).unwrap_err(),
            InviteError::NoAddress
        );
        let long = format!(
            "{PREFIX}{}",
            "0".repeat(MAX_INVITE_CHARS + 1 - PREFIX.len())
        );
        assert!(
            matches!(decode(&long, &me, 5_000), Err(InviteError::Malformed(m)) if m.contains("longer"))
        );
    }

    #[test]
    fn dialable_addresses_leave_out_unspecified_ones() {
        let listen = vec![
            "/ip4/0.0.0.0/tcp/7700".to_string(),
            "/ip4/127.0.0.1/tcp/7700".to_string(),
            "/ip4/10.0.0.5/udp/7700/quic-v1".to_string(),
        ];
        let peer = "12D3KooWGzUQCm4Jxz5ZwQBMyZ8Yk6WcfBDEvV3RiyNo8dNFyK4h";
        let d = dialable(&listen, peer);
        assert_eq!(
            d,
            vec![format!("/ip4/10.0.0.5/udp/7700/quic-v1/p2p/{peer}")]
        );
        // Loopback only when there is nothing else.
        let d = dialable(&listen[..2], peer);
        assert_eq!(d, vec![format!("/ip4/127.0.0.1/tcp/7700/p2p/{peer}")]);
    }

    #[test]
    fn operator_addresses_are_checked_and_completed() {
        let peer = "12D3KooWGzUQCm4Jxz5ZwQBMyZ8Yk6WcfBDEvV3RiyNo8dNFyK4h";
        assert_eq!(
            normalise(&["/ip4/192.0.2.7/tcp/7700".into()], peer).unwrap(),
            vec![format!("/ip4/192.0.2.7/tcp/7700/p2p/{peer}")]
        );
        assert!(normalise(&["192.0.2.7:7700".into()], peer).is_err());
        let other = format!("/ip4/192.0.2.7/tcp/7700/p2p/{}", libp2p::PeerId::random());
        assert!(normalise(&[other], peer).is_err(), "another peer's address");
        assert!(normalise(&[ADDR.into()], peer).is_ok(), "this node's own");
        let many =
            vec!["/ip4/192.0.2.7/tcp/1".to_string(); mutual_protocol::limits::MAX_LIST_LEN + 1];
        assert!(normalise(&many, peer).is_err());
        assert!(normalise(&many[1..], peer).is_ok());
    }

    #[test]
    fn a_wrapped_invite_still_reads_and_a_forged_signature_is_named() {
        let me = Keypair::generate(&mut OsRng).public();
        let line = encode(&invitation(10_000, &me, vec![ADDR.into()]));
        let wrapped: String = line
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n  ");
        assert!(decode(&wrapped, &me, 5_000).is_ok());
        // The last hex digit lies in the signature.
        let mut forged = line.into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(
            decode(&forged, &me, 5_000).unwrap_err(),
            InviteError::BadSignature
        );
    }
}
