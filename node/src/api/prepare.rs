//! `POST /prepare`: the exact bytes a partner signs for their next event, prepared by the
//! node from what it holds (the partner's feed, the log's heads, the time), and checked
//! against the rules first, so that a mistake is refused before anything is signed
//! (docs/PROTOCOL.md §5.10). Open to anyone who can reach the API: preparing signs and
//! stores nothing, and the signature made over the answer is the authority when the event
//! comes back to `POST /events`.

use super::common::{parse_key, ApiError, ApiState, ErrorBody};
use super::motions::{kind_name, partner_name};
use crate::dates::format_ms;
use crate::node::plan_next;
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{body_name, check_body, Body, Event, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::membership::Holder;
use mutual_protocol::replica::Replica;
use mutual_protocol::signature::{EVENT_DOMAIN, SIGNATURE_LEN};
use mutual_protocol::state::Outcome;
use prost::Message;
use serde::{Deserialize, Serialize};

/// What `POST /prepare` takes.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct PrepareRequest {
    /// The key that will sign (hex).
    pub author: String,
    /// The body, as hex of an encoded `Event` message in which only the body is set.
    pub body: String,
    /// For a motion: how long its vote stays open, in ms. The node then sets its
    /// `opens_at_ms` to the event's own time and `closes_at_ms` to that plus this, so the
    /// period is exactly what was asked whatever the event's time turns out to be.
    #[serde(default)]
    pub voting_ms: Option<u64>,
}

/// What `POST /prepare` answers: the bytes to sign and what they say.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct Prepared {
    /// Hex of the encoded `Event` to sign: the signature is Ed25519 over
    /// `signing_domain` followed by these bytes.
    pub event: String,
    /// The signing domain, as text (`mutual/v1/event` and a zero byte).
    pub signing_domain: String,
    /// The event's id once signed (SHA-256 of `event`).
    pub id: String,
    /// Its seq in the author's feed.
    pub seq: u64,
    /// The author's previous event, if any.
    pub prev: Option<String>,
    /// Its date (ms since the epoch) and as local time.
    pub timestamp_ms: u64,
    /// The date in words.
    pub date: String,
    /// What the event says, in words.
    pub summary: String,
}

/// The body of an encoded `Event` holding only a body.
pub fn decode_body(hex_body: &str) -> Result<Body, String> {
    let bytes = hex::decode(hex_body.trim()).map_err(|_| "body: not hex".to_string())?;
    let ev = pb::Event::decode(bytes.as_slice())
        .map_err(|e| format!("body: not an encoded Event: {e}"))?;
    let body = ev
        .body
        .ok_or_else(|| "body: the Event sets no body".to_string())?;
    check_body(&body).map_err(|e| format!("body: {e}"))?;
    Ok(body)
}

/// Encodes a body as `POST /prepare` takes it.
pub fn encode_body(body: &Body) -> String {
    hex::encode(
        pb::Event {
            body: Some(body.clone()),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

/// Prepares `body` as the next event of `author`'s feed in `r` at `now`, and tries it
/// against the rules; the refusal says why in words.
pub fn prepare(r: &Replica, req: &PrepareRequest, now: u64) -> Result<Prepared, String> {
    let author = req.author.trim().parse().map_err(|_| {
        format!(
            "author {:?} is not a key (64 hex digits)",
            req.author.trim()
        )
    })?;
    let mut body = decode_body(&req.body)?;
    super::events::may_sign(r, &author, Some(&body))?;
    if r.forks().contains_key(&author) {
        return Err(format!(
            "key {author} is forked (two events were signed with the same seq); it cannot \
             sign again: ask the partners to replace it (a replace-key motion)"
        ));
    }
    let (position, at, deps) = plan_next(r, author, now, &body).map_err(|e| e.to_string())?;
    if let (Some(ms), Body::Motion(mo)) = (req.voting_ms, &mut body) {
        mo.opens_at_ms = at;
        mo.closes_at_ms = at.saturating_add(ms);
    }
    let (bytes, event) = position.prepare(at, deps, body);
    let trial = SignedEvent::assemble(bytes.clone(), [0; SIGNATURE_LEN])
        .map_err(|e| format!("the event would not be valid: {e}"))?;
    if let outcome @ Outcome::Rejected(_) = r.trial(&trial) {
        return Err(format!(
            "refused before signing: the event would be {outcome}"
        ));
    }
    Ok(Prepared {
        id: EventId::of(&bytes).to_string(),
        event: hex::encode(&bytes),
        signing_domain: String::from_utf8_lossy(EVENT_DOMAIN)
            .trim_end_matches('\0')
            .to_string(),
        seq: event.seq,
        prev: event.prev.map(|p| p.to_string()),
        timestamp_ms: at,
        date: format_ms(at),
        summary: describe(r, &event),
    })
}

/// An event in words, with names for keys and titles for motions.
pub fn describe(r: &Replica, ev: &Event) -> String {
    let state = r.state();
    let m = state.membership();
    let who = |bytes: &[u8]| {
        mutual_protocol::keys::PublicKey::from_slice(bytes)
            .map(|k| partner_name(m, &k))
            .unwrap_or_else(|_| "an unknown key".into())
    };
    let motion_title = |bytes: &[u8]| {
        EventId::from_slice(bytes)
            .and_then(|id| state.governance().motion(&id))
            .map(|rec| format!("{:?}", rec.motion.title))
            .unwrap_or_else(|| "an unknown motion".into())
    };
    let author = match m.holder(&ev.author) {
        Some(Holder::Partner(id)) => partner_name(m, id),
        Some(Holder::Practice(ods)) => format!("practice {ods}"),
        None => ev.author.to_string(),
    };
    let what = match &ev.body {
        Some(Body::Motion(mo)) => {
            let kind = pb::DecisionKind::try_from(mo.kind)
                .map(kind_name)
                .unwrap_or_else(|_| "unknown".into());
            let mut s = format!("propose a {kind} motion {:?}", mo.title);
            if mo.closes_at_ms != 0 {
                s.push_str(&format!(", voting until {}", format_ms(mo.closes_at_ms)));
            }
            if !mo.candidates.is_empty() {
                let names: Vec<String> = mo.candidates.iter().map(|c| who(c)).collect();
                s.push_str(&format!(", candidates {}", names.join(", ")));
            }
            s
        }
        Some(Body::Ballot(b)) => {
            let on = motion_title(&b.motion);
            let choice = pb::Choice::try_from(b.choice).unwrap_or(pb::Choice::Unspecified);
            let mut s = match choice {
                pb::Choice::DeclareInterest => format!("declare an interest in {on}"),
                pb::Choice::AppointProxy => format!(
                    "appoint {} as proxy on {on}{}",
                    who(&b.proxy),
                    if b.proxy_expires_at_ms == 0 {
                        String::new()
                    } else {
                        format!(" until {}", format_ms(b.proxy_expires_at_ms))
                    }
                ),
                pb::Choice::RevokeProxy => format!("revoke the proxy on {on}"),
                _ if !b.ranking.is_empty() => format!(
                    "rank on {on}: {}",
                    b.ranking
                        .iter()
                        .map(|k| who(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                pb::Choice::For => format!("vote for {on}"),
                pb::Choice::Against => format!("vote against {on}"),
                pb::Choice::Abstain => format!("abstain on {on}"),
                pb::Choice::Unspecified => format!("cast an empty ballot on {on}"),
            };
            if !b.on_behalf_of.is_empty() {
                s.push_str(&format!(" on behalf of {}", who(&b.on_behalf_of)));
            }
            s
        }
        Some(Body::PartnerResign(_)) => "resign as a partner".into(),
        Some(Body::KeyRevocation(k)) => format!("revoke key {}", who(&k.key)),
        Some(Body::KeyRotation(_)) => "replace this key with a new one".into(),
        Some(b) => body_name(b).replace('_', " "),
        None => "an event of a kind unknown to this version".into(),
    };
    format!(
        "{author}: {what} (seq {}, {})",
        ev.seq,
        format_ms(ev.timestamp_ms)
    )
}

#[utoipa::path(post, path = "/prepare", tag = "events", request_body = PrepareRequest, responses((status = 200, description = "The exact bytes to sign and what they say.", body = Prepared), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn prepare_route(
    State(s): State<ApiState>,
    Json(req): Json<PrepareRequest>,
) -> Result<Json<Prepared>, ApiError> {
    parse_key(req.author.trim())?;
    let now = s.now();
    let prepared = s
        .node
        .query(move |r| prepare(r, &req, now))
        .await?
        .map_err(ApiError::refused)?;
    Ok(Json(if s.tamper_prepare {
        tampered(prepared)
    } else {
        prepared
    }))
}

/// What a compromised node might answer: the same event with a ballot's choice turned
/// the other way (for ↔ against), or a motion's voting period ended a day later, and
/// everything else, the words included, left as asked.
fn tampered(mut p: Prepared) -> Prepared {
    let Ok(bytes) = hex::decode(&p.event) else {
        return p;
    };
    let Ok(mut ev) = pb::Event::decode(bytes.as_slice()) else {
        return p;
    };
    if let Some(Body::Ballot(b)) = &mut ev.body {
        b.choice = if b.choice == pb::Choice::For as i32 {
            pb::Choice::Against as i32
        } else {
            pb::Choice::For as i32
        };
    }
    if let Some(Body::Motion(m)) = &mut ev.body {
        m.closes_at_ms += 24 * 3_600_000;
    }
    let bytes = ev.encode_to_vec();
    p.id = EventId::of(&bytes).to_string();
    p.event = hex::encode(bytes);
    p
}
