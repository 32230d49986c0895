//! The driver's side of the paper protocol (docs/NETWORK.md §10): libp2p's request ids and
//! response channels turned into the core's numbers, and back. What to ask for, whom to
//! answer and what to keep is the core's (`crate::core::papers`).

use super::driver::Driver;
use crate::core::{Action, Input};
use crate::keyfile::{peer_of, public_key_of_peer};
use libp2p::request_response::{Event, Message};
use mutual_proto::v1 as pb;

impl Driver {
    /// Carries out a paper action of the core.
    pub(super) fn paper_action(&mut self, a: Action) {
        match a {
            Action::PaperRequest { peer, id, req } => {
                let rid = self
                    .swarm_mut()
                    .behaviour_mut()
                    .papers
                    .send_request(&peer_of(&peer), req);
                self.paper_outbound.insert(rid, id);
            }
            Action::PaperRespond { token, resp } => {
                if let Some(ch) = self.paper_channels.remove(&token) {
                    let _ = self
                        .swarm_mut()
                        .behaviour_mut()
                        .papers
                        .send_response(ch, resp);
                }
            }
            _ => {}
        }
    }

    /// Hands the core what the paper protocol brought.
    pub(super) fn on_papers(&mut self, ev: Event<pb::PaperRequest, pb::PaperResponse>) {
        match ev {
            Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => {
                    let Some(from) = public_key_of_peer(&peer) else {
                        return;
                    };
                    let token = self.next_token();
                    self.paper_channels.insert(token, channel);
                    self.feed(Input::PaperRequest {
                        from,
                        req: request,
                        token,
                    });
                }
                Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(id) = self.paper_outbound.remove(&request_id) {
                        self.feed(Input::PaperResponse {
                            id,
                            resp: Some(response),
                        });
                    }
                }
            },
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "paper request failed");
                if let Some(id) = self.paper_outbound.remove(&request_id) {
                    self.feed(Input::PaperResponse { id, resp: None });
                }
            }
            Event::InboundFailure { .. } | Event::ResponseSent { .. } => {}
        }
    }
}
