//! Every integration test of `protocol` in one test binary (one build and one link, not
//! one per file); each file stays a module of its own, named as before.

mod aid_common;
mod common;
mod governance_common;

#[path = "aid.rs"]
mod aid;
#[path = "aid_concurrency.rs"]
mod aid_concurrency;
#[path = "aid_limits.rs"]
mod aid_limits;
#[path = "aid_signers.rs"]
mod aid_signers;
#[path = "appendix_a.rs"]
mod appendix_a;
#[path = "appendix_b.rs"]
mod appendix_b;
#[path = "bodies.rs"]
mod bodies;
#[path = "closed_votes.rs"]
mod closed_votes;
#[path = "convergence.rs"]
mod convergence;
#[path = "decoders.rs"]
mod decoders;
#[path = "federation.rs"]
mod federation;
#[path = "fold_cost.rs"]
mod fold_cost;
#[path = "governance.rs"]
mod governance;
#[path = "governance_accession.rs"]
mod governance_accession;
#[path = "governance_board.rs"]
mod governance_board;
#[path = "governance_deadlines.rs"]
mod governance_deadlines;
#[path = "governance_gaps.rs"]
mod governance_gaps;
#[path = "governance_order.rs"]
mod governance_order;
#[path = "governance_powers.rs"]
mod governance_powers;
#[path = "governance_proxies.rs"]
mod governance_proxies;
#[path = "governance_review.rs"]
mod governance_review;
#[path = "governance_stv.rs"]
mod governance_stv;
#[path = "governance_witness.rs"]
mod governance_witness;
#[path = "heads.rs"]
mod heads;
#[path = "invitations.rs"]
mod invitations;
#[path = "limits.rs"]
mod limits;
#[path = "membership.rs"]
mod membership;
#[path = "papers.rs"]
mod papers;
#[path = "rejections.rs"]
mod rejections;
#[path = "spec_decoding.rs"]
mod spec_decoding;
#[path = "spec_rules.rs"]
mod spec_rules;
