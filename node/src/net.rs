//! The libp2p side of a node (docs/NETWORK.md): transports (TCP and QUIC; noise and yamux
//! over TCP), the connection gate and limits, identify, gossipsub with one topic per
//! network, the sync and paper request-response protocols and optional mDNS.

use crate::gate::Gate;
use crate::limits::{
    GOSSIP_HISTORY, GOSSIP_IDONTWANT_BYTES, GOSSIP_LAZY, GOSSIP_MESH, GOSSIP_MESH_HIGH,
    GOSSIP_MESH_LOW, IDLE_CONNECTION_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER,
    MAX_GOSSIP_BYTES, MAX_PENDING_CONNECTIONS, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES,
    PAPER_TIMEOUT, REQUEST_TIMEOUT,
};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    connection_limits, gossipsub, identify, identity, mdns, noise, request_response, tcp, yamux,
    StreamProtocol, Swarm,
};
use mutual_proto::v1 as pb;
use mutual_protocol::id::NetworkId;
use prost::Message;
use sha2::{Digest, Sha256};
use std::io;

/// The sync protocol's name.
pub const SYNC_PROTOCOL: &str = "/mutual/sync/1";
/// The paper protocol's name (docs/NETWORK.md §10).
pub const PAPER_PROTOCOL: &str = "/mutual/paper/1";
/// Largest paper request read from a peer, in bytes: a 32-byte hash and its framing.
pub const MAX_PAPER_REQUEST_BYTES: usize = 64;
/// Largest paper response read from a peer, in bytes: the largest paper and its framing.
pub const MAX_PAPER_RESPONSE_BYTES: usize = mutual_protocol::limits::MAX_PAPER_BYTES as usize + 64;
/// The identify protocol version this node announces.
pub const IDENTIFY_PROTOCOL: &str = "/mutual/1";

/// The gossipsub topic of a network: one per network, named by its id.
pub fn topic(network: &NetworkId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("mutual/v1/events/{network}"))
}

/// A request-response protocol's wire codec: each message is an unsigned varint length
/// and the encoded protobuf, refused before it is read if longer than its limit.
#[derive(Debug)]
pub struct ProtoCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _messages: std::marker::PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for ProtoCodec<Req, Resp> {
    fn clone(&self) -> Self {
        ProtoCodec {
            max_request: self.max_request,
            max_response: self.max_response,
            _messages: std::marker::PhantomData,
        }
    }
}

/// The sync protocol's codec.
pub type SyncCodec = ProtoCodec<pb::SyncRequest, pb::SyncResponse>;
/// The paper protocol's codec.
pub type PaperCodec = ProtoCodec<pb::PaperRequest, pb::PaperResponse>;

impl Default for SyncCodec {
    fn default() -> Self {
        ProtoCodec {
            max_request: MAX_SYNC_REQUEST_BYTES,
            max_response: MAX_SYNC_RESPONSE_BYTES,
            _messages: std::marker::PhantomData,
        }
    }
}

impl Default for PaperCodec {
    fn default() -> Self {
        ProtoCodec {
            max_request: MAX_PAPER_REQUEST_BYTES,
            max_response: MAX_PAPER_RESPONSE_BYTES,
            _messages: std::marker::PhantomData,
        }
    }
}

/// Reads one length-prefixed message of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            if len > max as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("message of {len} bytes, over the limit of {max}"),
                ));
            }
            let mut buf = vec![0u8; len as usize];
            io.read_exact(&mut buf).await?;
            return Ok(buf);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "bad length prefix",
    ))
}

/// Writes one length-prefixed message.
pub async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, msg: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(msg.len() + 10);
    prost::encoding::encode_varint(msg.len() as u64, &mut buf);
    buf.extend_from_slice(msg);
    io.write_all(&buf).await?;
    io.close().await
}

fn decode<M: Message + Default>(bytes: &[u8]) -> io::Result<M> {
    M::decode(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl<Req, Resp> request_response::Codec for ProtoCodec<Req, Resp>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_request).await?)
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_response).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Self::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req.encode_to_vec()).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Self::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res.encode_to_vec()).await
    }
}

pub use behaviour::{Behaviour, BehaviourEvent};

mod behaviour {
    // The derive generates `BehaviourEvent`, one variant per field, without docs.
    #![allow(missing_docs)]
    use super::*;

    /// Everything a node's swarm does. The gate comes first, so a connection it denies
    /// never reaches the other behaviours.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Who may connect.
        pub gate: Gate,
        /// Connection counts.
        pub limits: connection_limits::Behaviour,
        /// Peers' listen addresses and protocols.
        pub identify: identify::Behaviour,
        /// Event propagation.
        pub gossip: gossipsub::Behaviour,
        /// The sync protocol.
        pub sync: request_response::Behaviour<SyncCodec>,
        /// The paper protocol.
        pub papers: request_response::Behaviour<PaperCodec>,
        /// LAN discovery, when enabled.
        pub mdns: Toggle<mdns::tokio::Behaviour>,
    }
}

/// The bytes a swarm's connections read and wrote, as libp2p's bandwidth counters count
/// them: what its streams carry, every protocol together, above encryption and
/// multiplexing (their framing and handshakes are not counted).
#[derive(Debug, Default)]
pub struct Bandwidth {
    registry: libp2p::metrics::Registry,
}

impl Bandwidth {
    /// Bytes read (`inbound`) and written (`outbound`) so far, over every transport.
    pub fn bytes(&self) -> (u64, u64) {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return (0, 0);
        }
        let (mut inbound, mut outbound) = (0, 0);
        for line in text
            .lines()
            .filter(|l| l.starts_with("libp2p_bandwidth_bytes_total"))
        {
            let value = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as u64;
            if line.contains("direction=\"Inbound\"") {
                inbound += value;
            } else if line.contains("direction=\"Outbound\"") {
                outbound += value;
            }
        }
        (inbound, outbound)
    }
}

/// Builds a swarm for `keypair` (the node key), counting its transports' bytes. `mdns`
/// turns on LAN discovery.
pub fn build_swarm(
    keypair: identity::Keypair,
    mdns_on: bool,
) -> anyhow::Result<(Swarm<Behaviour>, Bandwidth)> {
    let mut bandwidth = Bandwidth::default();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_bandwidth_metrics(&mut bandwidth.registry)
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let peer = key.public().to_peer_id();
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .max_transmit_size(MAX_GOSSIP_BYTES)
                    // A publisher sends to its mesh, not to every peer, and the mesh is
                    // kept small: every copy past the first is a duplicate the receiver
                    // reads and drops (docs/NETWORK.md §4.1).
                    .flood_publish(false)
                    .mesh_n(GOSSIP_MESH)
                    .mesh_n_low(GOSSIP_MESH_LOW)
                    .mesh_n_high(GOSSIP_MESH_HIGH)
                    .mesh_outbound_min(GOSSIP_MESH_LOW / 2)
                    .gossip_lazy(GOSSIP_LAZY)
                    // Exactly `GOSSIP_LAZY` peers, not a share of all the others.
                    .gossip_factor(0.0)
                    .history_gossip(GOSSIP_HISTORY)
                    // A node that published or received an event tells its mesh peers it
                    // has it (gossipsub 1.2's IDONTWANT), so they do not send it back.
                    .idontwant_on_publish(true)
                    .idontwant_message_size_threshold(GOSSIP_IDONTWANT_BYTES)
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .validate_messages()
                    // One id per event, whoever forwards it.
                    .message_id_fn(|m: &gossipsub::Message| {
                        gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
                    })
                    .build()?;
                let gossip = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )?;
                let sync = request_response::Behaviour::with_codec(
                    SyncCodec::default(),
                    [(
                        StreamProtocol::new(SYNC_PROTOCOL),
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
                );
                let papers = request_response::Behaviour::with_codec(
                    PaperCodec::default(),
                    [(
                        StreamProtocol::new(PAPER_PROTOCOL),
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default().with_request_timeout(PAPER_TIMEOUT),
                );
                let limits = connection_limits::ConnectionLimits::default()
                    .with_max_established(Some(MAX_CONNECTIONS))
                    .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                    .with_max_pending_incoming(Some(MAX_PENDING_CONNECTIONS))
                    .with_max_pending_outgoing(Some(MAX_PENDING_CONNECTIONS));
                let mdns = if mdns_on {
                    Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer)?)
                } else {
                    None
                };
                Ok(Behaviour {
                    gate: Gate::default(),
                    limits: connection_limits::Behaviour::new(limits),
                    identify: identify::Behaviour::new(identify::Config::new(
                        IDENTIFY_PROTOCOL.into(),
                        key.public(),
                    )),
                    gossip,
                    sync,
                    papers,
                    mdns: mdns.into(),
                })
            },
        )?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok((swarm, bandwidth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused_before_reading() {
        let msg = vec![7u8; 300];
        let mut buf = futures::io::Cursor::new(Vec::new());
        write_frame(&mut buf, &msg).await.expect("write");
        let bytes = buf.into_inner();
        let mut r = futures::io::Cursor::new(bytes.clone());
        assert_eq!(read_frame(&mut r, 300).await.expect("at the limit"), msg);
        let mut r = futures::io::Cursor::new(bytes);
        let err = read_frame(&mut r, 299).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
