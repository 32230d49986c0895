//! Every limit in the protocol core, with its unit and its reason.
//!
//! These are part of the protocol: a node that accepted more would store events that
//! other nodes refuse, so changing one is a protocol change (docs/PROTOCOL.md, "Limits").

/// Largest encoded `SignedEvent`, in bytes. A genesis for 32 practices and 200 partners
/// is about 25 KiB; 64 KiB leaves room while keeping one event cheap to hold and to send.
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
/// most this many.
pub const CHECKPOINT_INTERVAL: usize = 64;
