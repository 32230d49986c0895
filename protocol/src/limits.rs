//! Every limit in the protocol core, with its unit and its reason.
//!
//! Two kinds: *validity* limits ([`MAX_EVENT_BYTES`], [`MAX_DEPS`], [`MAX_NAME_BYTES`],
//! [`MAX_TEXT_BYTES`], [`MAX_LIST_LEN`], [`MAX_CLOCK_SKEW_MS`], [`MAX_INVITATION_MS`],
//! [`MAX_OPEN_INVITATIONS`], [`MAX_EVIDENCE_EVENTS`], [`MAX_PAPER_BYTES`],
//! [`MAX_PAPERS_PER_EVENT`]) are part of the protocol:
//! a node that accepted more would store events that other nodes refuse, so changing one
//! is a protocol change (docs/PROTOCOL.md, "Limits"). *Capacity* limits
//! ([`MAX_SIGNED_EVENT_BYTES`], [`MAX_FUTURE_EVENTS`], [`MAX_PENDING_EVENTS`],
//! [`CHECKPOINT_INTERVAL`], [`CHECKPOINTS_RECENT`]) bound one node's memory and work and never change which
//! events are valid or what state they produce.

/// Largest signed `event` byte string, in bytes (validity). A genesis for 32 practices
/// and 200 partners is about 25 KiB; this leaves room while keeping one event cheap to
/// hold and to send, and keeps the canonical wrapper under [`MAX_SIGNED_EVENT_BYTES`].
pub const MAX_EVENT_BYTES: usize = 64 * 1024 - 128;

/// Largest encoded `SignedEvent` wrapper read from a peer or a file, in bytes (capacity):
/// a guard applied before decoding. A canonical wrapper around an event of
/// [`MAX_EVENT_BYTES`] is at most 64 + 9 bytes larger, so it always fits.
pub const MAX_SIGNED_EVENT_BYTES: usize = 64 * 1024;

/// Most `deps` one event may list. An author names the heads it had seen; 32 is far
/// above the number of concurrently active authors one event needs to follow, and keeps
/// the cost of checking causality per event small.
pub const MAX_DEPS: usize = 32;

/// Longest name (practice, partner, network, locality, role), in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 200;

/// Longest free text (motion text, notes, reasons, terms), in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Most entries in any repeated field of a body (practices, partners, sessions,
/// addresses, candidates, rules, networks). The event size limit bounds these too; this
/// bound keeps any one list a size a person can read.
pub const MAX_LIST_LEN: usize = 512;

/// How far ahead of the local clock an event's timestamp may be before the event is held
/// rather than applied, in milliseconds. Five minutes absorbs ordinary clock drift on
/// machines that run NTP without letting an author pre-date the future meaningfully.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Most events held because their timestamps are in the future. Beyond this, further
/// future events are refused for now (not stored); a peer offers them again later.
pub const MAX_FUTURE_EVENTS: usize = 1024;

/// Most events waiting for a missing `prev` or `deps`. Bounds the memory a peer can make
/// a node spend on events it cannot yet check; beyond it, new orphans are refused for now
/// and fetched again once their causes arrive.
pub const MAX_PENDING_EVENTS: usize = 8192;

/// How many events are applied between two state checkpoints. An event that arrives out
/// of order is applied by going back to the checkpoint before its place and re-applying
/// what follows, so this bounds the re-applied work to the events after its place plus at
/// most this many, among the [`CHECKPOINTS_RECENT`] latest checkpoints.
pub const CHECKPOINT_INTERVAL: usize = 64;

/// How many of the latest checkpoints are all kept. Older ones are thinned with their
/// distance from the latest: a checkpoint `d` checkpoints back, `d` at least this, is kept
/// only if its number is a multiple of `2^(⌊log2(d / CHECKPOINTS_RECENT)⌋ + 1)`. A replica
/// of `n` events so keeps about `CHECKPOINTS_RECENT × (1 + log2(n / (CHECKPOINT_INTERVAL ×
/// CHECKPOINTS_RECENT)) / 2)` checkpoints rather than `n / CHECKPOINT_INTERVAL`, and an
/// event arriving `k` events behind the latest re-applies at most about
/// `k × (1 + 2 / CHECKPOINTS_RECENT) + CHECKPOINT_INTERVAL` events.
pub const CHECKPOINTS_RECENT: u64 = 16;

/// Longest an invitation may stay open, in milliseconds from its event's timestamp
/// (validity): thirty days is time enough for a practice to set up its node and for the
/// partners to vote on admitting it, and an invitation that outlives that should be
/// renewed on purpose.
pub const MAX_INVITATION_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Most invitations one key may have open at once (validity). Each one lets a stranger's
/// node connect to every member's node, so a compromised key can let in at most this many.
pub const MAX_OPEN_INVITATIONS: usize = 8;

/// Most events of a network's own log one `FederationEvidence` event carries (validity,
/// docs/FEDERATION.md §3). A node sends its network's evidence in batches of at most this
/// many, so one event stays small and quick to check.
pub const MAX_EVIDENCE_EVENTS: usize = 32;

/// Largest paper (a file attached to a motion or an aid request), in bytes (validity,
/// docs/PROTOCOL.md §8.13): 16 MiB holds a practice's annual accounts or a due-diligence
/// report as a PDF, and is one request's worth for a peer to send and check.
pub const MAX_PAPER_BYTES: u64 = 16 * 1024 * 1024;

/// Most papers one event carries (validity). A motion asks voters to read them; sixteen
/// is more than anyone reads for one decision, and bounds what one event makes every node
/// fetch to 16 × [`MAX_PAPER_BYTES`].
pub const MAX_PAPERS_PER_EVENT: usize = 16;
