//! Shrinking a failing plan: faults are switched off and the run made shorter and smaller
//! one step at a time, keeping each step that still fails, until no step does. What is
//! left is the least schedule that still shows the failure, and its replay command.

use super::{run, Failure, Faults, Plan, MIN_SIM_NODES};

/// Most simulations one shrink may run (each step is one run).
pub const MAX_SHRINK_RUNS: usize = 48;
/// The shortest faulty phase a shrink tries, ms.
const MIN_FAULT_MS: u64 = 20_000;

/// The plans one step away from `p`, simplest first.
fn simpler(p: &Plan) -> Vec<Plan> {
    let mut out = Vec::new();
    let mut with = |f: &dyn Fn(&mut Plan)| {
        let mut q = p.clone();
        f(&mut q);
        if format!("{q:?}") != format!("{p:?}") {
            out.push(q);
        }
    };
    with(&|q| q.faults = Faults::none());
    with(&|q| q.faults.forker = false);
    with(&|q| q.faults.silent_member = false);
    with(&|q| q.faults.runaway_clock = false);
    with(&|q| q.faults.crash_every_ms = 0);
    with(&|q| q.faults.partition_every_ms = 0);
    with(&|q| q.faults.corrupt = 0.0);
    with(&|q| q.faults.duplicate = 0.0);
    with(&|q| q.faults.drop = 0.0);
    with(&|q| q.faults.max_skew_ms = 0);
    with(&|q| q.faults.max_delay_ms = 1);
    with(&|q| q.fault_ms = (q.fault_ms / 2).max(MIN_FAULT_MS));
    with(&|q| q.nodes = (q.nodes / 2).max(MIN_SIM_NODES));
    with(&|q| q.nodes = (q.nodes - 1).max(MIN_SIM_NODES));
    for q in &mut out {
        q.converge_within_ms =
            Plan::bound(&q.faults).max(p.converge_within_ms.min(Plan::bound(&q.faults) * 4));
    }
    out
}

/// Shrinks a failing `plan` to the least plan that still fails, within
/// [`MAX_SHRINK_RUNS`] runs. Returns that plan and its failure (`None` if `plan` passes).
pub fn shrink(plan: &Plan) -> Option<(Plan, Box<Failure>)> {
    let mut best = (plan.clone(), run(plan).err()?);
    let mut runs = 1;
    'outer: loop {
        for q in simpler(&best.0) {
            if runs >= MAX_SHRINK_RUNS {
                break 'outer;
            }
            runs += 1;
            if let Err(f) = run(&q) {
                best = (q, f);
                continue 'outer;
            }
        }
        break;
    }
    Some(best)
}
