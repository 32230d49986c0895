//! The handle to a running node, and the commands it sends to the node's task.

use crate::federation::FedLog;
use libp2p::{Multiaddr, PeerId};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::replica::Replica;
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot, watch};

use crate::core::papers::Papers;
use crate::core::{NodeError, PaperStored, Status, Submitted};

pub(super) type Query = Box<dyn FnOnce(&Replica) + Send>;
pub(super) type PaperQuery = Box<dyn FnOnce(&Replica, &Papers) + Send>;
pub(super) type FedQuery = Box<dyn FnOnce(&Replica, &BTreeMap<FederationId, FedLog>) + Send>;

pub(super) enum Command {
    Author {
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
    },
    Submit {
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, NodeError>>,
    },
    Status(oneshot::Sender<Status>),
    Query(Query),
    FedQuery(FedQuery),
    AuthorIn {
        federation: FederationId,
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
    },
    SubmitIn {
        federation: FederationId,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, NodeError>>,
    },
    SignCharter {
        charter: pb::FederationCharter,
        reply: oneshot::Sender<Result<SignedEvent, NodeError>>,
    },
    PutPaper {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<PaperStored, NodeError>>,
    },
    ReadPaper {
        sha256: [u8; 32],
        reply: oneshot::Sender<Result<Option<Vec<u8>>, NodeError>>,
    },
    PaperQuery(PaperQuery),
    Block(PeerId, bool),
    Dial(Multiaddr),
    SyncNow,
    Shutdown(oneshot::Sender<()>),
}

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) tx: mpsc::Sender<Command>,
    pub(super) peer_id: PeerId,
    pub(super) network: NetworkId,
    pub(super) changes: watch::Receiver<Change>,
}

/// What a node holds, in counts: it changes when the node's logs grow, so a watcher of
/// [`NodeHandle::changes`] learns that something new arrived.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct Change {
    /// Events in the network's log.
    pub events: usize,
    /// Events waiting for their causes.
    pub pending: usize,
    /// Events in the logs of the federations the network belongs to.
    pub federation_events: usize,
    /// The most events a connected peer said it holds (`Status::peers_hold`).
    #[serde(default)]
    pub peers_hold: u64,
}

impl NodeHandle {
    /// The node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The network it serves.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// What the node holds, watched: the value changes whenever its logs grow.
    pub fn changes(&self) -> watch::Receiver<Change> {
        self.changes.clone()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Signs `bodies` with the node key, in order, and returns their ids once durable.
    pub async fn author(&self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        self.ask(|reply| Command::Author { bodies, reply }).await?
    }

    /// Takes in an event signed elsewhere (by a partner's key) and passes it on.
    pub async fn submit(&self, wire: Vec<u8>) -> Result<Submitted, NodeError> {
        self.ask(|reply| Command::Submit { wire, reply }).await?
    }

    /// The node's condition.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.ask(Command::Status).await
    }

    /// Runs `f` on the node's replica and returns what it computes.
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.ask(|tx| {
            Command::Query(Box::new(move |r: &Replica| {
                let _ = tx.send(f(r));
            }))
        })
        .await
    }

    /// Runs `f` on the node's replica and its federations' logs (docs/FEDERATION.md).
    pub async fn query_federations<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica, &BTreeMap<FederationId, FedLog>) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.ask(|tx| {
            Command::FedQuery(Box::new(
                move |r: &Replica, feds: &BTreeMap<FederationId, FedLog>| {
                    let _ = tx.send(f(r, feds));
                },
            ))
        })
        .await
    }

    /// Signs `bodies` with the node key into a federation's log, in order, and returns
    /// their ids once durable.
    pub async fn author_in(
        &self,
        federation: FederationId,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        self.ask(|reply| Command::AuthorIn {
            federation,
            bodies,
            reply,
        })
        .await?
    }

    /// Takes in an event for a federation's log, signed elsewhere, and passes it on.
    pub async fn submit_in(
        &self,
        federation: FederationId,
        wire: Vec<u8>,
    ) -> Result<Submitted, NodeError> {
        self.ask(|reply| Command::SubmitIn {
            federation,
            wire,
            reply,
        })
        .await?
    }

    /// Signs a federation's charter with the node key (docs/FEDERATION.md §2): the first
    /// event of the federation's log, whose id is the federation's id. The charter must
    /// be valid and name this network. Signing creates nothing; each named network links
    /// by passing a motion that carries the signed charter.
    pub async fn sign_charter(
        &self,
        charter: pb::FederationCharter,
    ) -> Result<SignedEvent, NodeError> {
        self.ask(|reply| Command::SignCharter { charter, reply })
            .await?
    }

    /// Stores a paper's bytes, if an event of the log names them (docs/NETWORK.md §10).
    pub async fn put_paper(&self, bytes: Vec<u8>) -> Result<PaperStored, NodeError> {
        self.ask(|reply| Command::PutPaper { bytes, reply }).await?
    }

    /// A paper's bytes, if the node holds them.
    pub async fn read_paper(&self, sha256: [u8; 32]) -> Result<Option<Vec<u8>>, NodeError> {
        self.ask(|reply| Command::ReadPaper { sha256, reply })
            .await?
    }

    /// Runs `f` on the node's replica and the papers it holds and wants.
    pub async fn query_papers<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica, &Papers) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.ask(|tx| {
            Command::PaperQuery(Box::new(move |r: &Replica, p: &Papers| {
                let _ = tx.send(f(r, p));
            }))
        })
        .await
    }

    /// Refuses (`true`) or again allows (`false`) connections with `peer`, for an operator
    /// who needs to cut a node off by hand.
    pub async fn block(&self, peer: PeerId, blocked: bool) -> Result<(), NodeError> {
        self.tx
            .send(Command::Block(peer, blocked))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Dials an address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.tx
            .send(Command::Dial(addr))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Starts a sync round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.tx
            .send(Command::SyncNow)
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Stops the node: makes the store durable and closes connections.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }
}
