//! Faults as the engine applies them: one step each (crash, restart,
//! pause, resume, partitions, clocks, links, commands, messages dropped,
//! duplicated or delivered next by hand), interventions checked before
//! they apply, faults in words, and the end of all faults for the liveness
//! phase. What a fault *is* (the vocabulary shared by the timeline, the
//! nemesis and interventions) is [`super::fault`].

use super::engine::{Sim, StepRecord};
use super::fault::{Fault, Origin, TimedFault};
use super::host::NodeStatus;
use super::monitor::Checker;
use super::network::EndpointId;
use super::queue::{Entry, Event, Slot};
use super::time::SimTime;
use super::trace::{NONE, TraceKind};
use crate::nodes::{Clock, NodeId, Protocol};
use crate::util::make_mut;

// ----- faults and interventions -------------------------------------------

/// The most values one `choose` intervention gives (the next choices).
pub const MAX_CHOICES: usize = 64;

/// Why an intervention could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterventionError {
    #[error("no node {0}")]
    NoSuchNode(u32),
    #[error("no message {0} is in flight")]
    NoSuchMessage(u64),
    #[error("{0}")]
    NotApplicable(String),
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Applies a fault as one step and records it.
    pub(super) fn apply_fault(&mut self, f: TimedFault) -> StepRecord {
        let step = self.begin_step();
        let now = self.state.now;
        let at = self.at();
        let mut node_ep = None;
        let kind = match &f.fault {
            Fault::Crash(n) => {
                node_ep = Some(n.endpoint());
                self.crash(*n);
                TraceKind::Crash
            }
            Fault::Restart(n) => {
                node_ep = Some(n.endpoint());
                TraceKind::Restart
            }
            Fault::Pause(n) => {
                node_ep = Some(n.endpoint());
                if self.state.nodes[n.index()].status == NodeStatus::Up {
                    self.state.nodes[n.index()].status = NodeStatus::Paused;
                }
                TraceKind::Pause
            }
            Fault::Resume(n) => {
                node_ep = Some(n.endpoint());
                TraceKind::Resume
            }
            Fault::Partition(groups) => {
                self.state.network.partition(groups);
                TraceKind::Partition
            }
            Fault::Cut { from, to } => {
                for f in from {
                    for t in to {
                        self.state.network.cut(*f, *t);
                    }
                }
                TraceKind::Partition
            }
            Fault::Heal => {
                self.state.network.heal();
                TraceKind::Heal
            }
            Fault::Clock { node, offset_us, drift_ppm } => {
                node_ep = Some(node.endpoint());
                self.state.nodes[node.index()].io.clock = Clock::new(now, *offset_us, *drift_ppm);
                TraceKind::Clock
            }
            Fault::Link { from, to, faults } => {
                self.state.network.set_link_faults(*from, *to, faults.clone());
                TraceKind::Link
            }
            Fault::Command { node, .. } => {
                node_ep = Some(node.endpoint());
                TraceKind::Command
            }
            Fault::DropMessage(id) => {
                if let Some(slot) = self.find_message(*id) {
                    self.free_slot(slot as u32);
                    self.state.in_flight -= 1;
                    self.state.stats.dropped += 1;
                    // It may have been waiting in a node's queue.
                    // (Indexing mutably copies a node a snapshot shares: only those it was in.)
                    for i in 0..self.state.nodes.len() {
                        if self.state.nodes[i].load.as_ref().is_some_and(|l| !l.queued.is_empty()) {
                            self.state.nodes[i].load_mut().queued.remove(id);
                        }
                    }
                }
                TraceKind::Drop
            }
            Fault::DuplicateMessage(id) => {
                if let Some(slot) = self.find_message(*id)
                    && let Some(Slot { time, event: Event::Deliver { from, to, payload, .. }, .. }) =
                        self.state.slab[slot].clone()
                {
                    self.state.next_msg += 1;
                    let dup = self.state.next_msg;
                    self.state.stats.duplicated += 1;
                    self.state.in_flight += 1;
                    self.schedule(time, Event::Deliver { id: dup, from, to, payload });
                }
                TraceKind::Duplicate
            }
            Fault::DeliverNext(id) => {
                if let Some(slot) = self.find_message(*id) {
                    self.state.next_key += 1;
                    let key = self.state.next_key; // top bit clear: first
                    let s = self.state.slab[slot].as_mut().expect("found");
                    s.key = key;
                    s.time = now;
                    self.state.queue.push(Entry { time: now.0, key, slot: slot as u32 });
                }
                TraceKind::Deliver
            }
            Fault::Choose(values) => {
                self.state.script = Some(values.as_slice().into());
                TraceKind::Choose
            }
            Fault::Note { .. } => TraceKind::Note,
        };
        if self.trace.on() {
            let text_fault = &f.fault;
            let payload = super::canon::hash(text_fault) as u64;
            let full = self.trace.builds_text();
            let text = if full { self.describe_fault(text_fault) } else { String::new() };
            self.trace.record(step, now.0, kind, node_ep.map_or(NONE, |e| e.0), NONE, 0, payload, || text);
        }
        if C::HEARS_FAULTS
            && let Some(c) = self.checker.as_mut().map(make_mut)
        {
            c.on_fault(at, &f.fault);
        }
        // Effects that run protocol handlers come after the fault's record.
        match &f.fault {
            Fault::Restart(n) if self.state.nodes[n.index()].status == NodeStatus::Down => {
                self.state.nodes[n.index()].incarnation += 1;
                self.boot(*n, true);
            }
            Fault::Resume(n) if self.state.nodes[n.index()].status == NodeStatus::Paused => self.resume(*n),
            Fault::Command { node, command } if self.state.nodes[node.index()].status == NodeStatus::Up => {
                let command = command.clone();
                self.handle(*node, |s, ctx| P::on_command(s, ctx, &command));
            }
            _ => {}
        }
        // A replay takes back what it applied before.
        self.applied.push(self.applied_ahead.pop_front().unwrap_or(f));
        self.record(kind, node_ep, None, None)
    }

    /// Applies an intervention now, between steps, as a step of its own.
    /// It is kept with the applied faults (keyed by this step number) so a
    /// saved run replays it exactly.
    pub fn intervene(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        self.check_intervention(&fault)?;
        let step = self.state.stats.events + 1;
        Ok(self.apply_fault(TimedFault {
            at: self.state.now,
            step: Some(step),
            fault,
            origin: Origin::Intervention,
        }))
    }

    /// [`Sim::intervene`] in a run restored with [`Sim::restore_keeping`]
    /// that is to go another way from here: the known future is forgotten
    /// first (if the intervention can be made at all).
    pub fn intervene_anew(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        self.check_intervention(&fault)?;
        self.forget_ahead();
        self.intervene(fault)
    }

    /// Whether `fault` can be made now as an intervention, or why not.
    fn check_intervention(&self, fault: &Fault) -> Result<(), InterventionError> {
        let nodes = self.cfg.cluster.len() as u32;
        let endpoints = nodes + self.state.clients.len() as u32;
        let bad_endpoint = |e: &EndpointId| e.0 >= endpoints;
        match fault {
            Fault::Crash(n)
            | Fault::Restart(n)
            | Fault::Pause(n)
            | Fault::Resume(n)
            | Fault::Clock { node: n, .. }
            | Fault::Command { node: n, .. }
                if n.0 >= nodes =>
            {
                return Err(InterventionError::NoSuchNode(n.0));
            }
            Fault::Partition(groups) if groups.iter().flatten().any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the partition names an endpoint that does not exist".into(),
                ));
            }
            Fault::Cut { from, to } if from.iter().chain(to).any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the cut names an endpoint that does not exist".into(),
                ));
            }
            Fault::Link { from, to, .. } if from.iter().chain(to.iter()).any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the link names an endpoint that does not exist".into(),
                ));
            }
            Fault::Clock { drift_ppm, .. } if drift_ppm.unsigned_abs() > 100_000 => {
                return Err(InterventionError::NotApplicable("drift must be within ±100000 ppm".into()));
            }
            Fault::DropMessage(id) | Fault::DuplicateMessage(id) | Fault::DeliverNext(id)
                if self.find_message(*id).is_none() =>
            {
                return Err(InterventionError::NoSuchMessage(*id));
            }
            Fault::Choose(values) if values.is_empty() || values.len() > MAX_CHOICES => {
                return Err(InterventionError::NotApplicable(format!(
                    "`choose` takes 1 to {MAX_CHOICES} values"
                )));
            }
            Fault::Command { command, .. } if !P::COMMANDS.contains(&command.name()) => {
                return Err(InterventionError::NotApplicable(format!(
                    "{} does not support `{}`",
                    P::NAME,
                    command.name()
                )));
            }
            _ => {}
        }
        Ok(())
    }

    pub fn endpoint_name(&self, e: EndpointId) -> String {
        let nodes = self.cfg.cluster.len() as u32;
        if e.0 < nodes {
            self.cfg.cluster.names[e.0 as usize].clone()
        } else {
            let c = &self.state.clients[(e.0 - nodes) as usize];
            let spec = &self.cfg.clients[c.spec as usize];
            let first = self.state.clients.iter().position(|x| x.spec == c.spec).unwrap_or(0) as u32;
            if spec.processes == 1 {
                spec.name.clone()
            } else {
                format!("{}.{}", spec.name, e.0 - nodes - first)
            }
        }
    }

    /// A fault in words, with node and client names (`n1 crashes`).
    pub fn describe_fault(&self, f: &Fault) -> String {
        f.describe(|n| self.cfg.cluster.name(n).to_string(), |e| self.endpoint_name(e))
    }
}

// ----- the liveness phase ---------------------------------------------------

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Ends every fault, for the liveness phase of `distlab check`
    /// (TigerBeetle's VOPR "transition to liveness mode"): scripted faults
    /// not yet applied are dropped, clients issue no new operation (open
    /// ones run to their end), and then, each as a nemesis fault applied
    /// now, the network heals (partitions and cuts gone, every link back
    /// to `[network]`), every crashed node restarts, every paused node
    /// resumes, and every clock is set back to the scenario's own (its
    /// configured offset and drift, as if never disturbed).
    pub fn end_faults(&mut self) {
        for slot in 0..self.state.slab.len() {
            if matches!(&self.state.slab[slot], Some(Slot { event: Event::Fault { .. }, .. })) {
                self.free_slot(slot as u32);
            }
        }
        self.state.faults_pending = 0;
        self.state.next_keyed = self.keyed.len();
        for (i, spec) in self.cfg.clients.iter().enumerate() {
            self.state.issued[i] = spec.ops;
        }
        self.state.clients.change_where(|c| !c.done, |c| c.done = true);
        let now = self.state.now;
        let mut heals = vec![Fault::Heal, Fault::Link { from: None, to: None, faults: None }];
        for (i, rt) in self.state.nodes.iter().enumerate() {
            let n = NodeId(i as u32);
            match rt.status {
                NodeStatus::Down => heals.push(Fault::Restart(n)),
                NodeStatus::Paused => heals.push(Fault::Resume(n)),
                NodeStatus::Up => {}
            }
            let (offset_us, drift_ppm) = self.cfg.clocks.get(i).copied().unwrap_or((0, 0));
            let own = Clock::new(SimTime::ZERO, offset_us, drift_ppm);
            let clock = rt.io.clock;
            if clock.offset_us(now) != own.offset_us(now) || clock.drift_ppm != drift_ppm {
                heals.push(Fault::Clock { node: n, offset_us: own.offset_us(now), drift_ppm });
            }
        }
        for fault in heals {
            self.apply_fault(TimedFault { at: now, step: None, fault, origin: Origin::Nemesis });
        }
    }

    /// What the checker reports still pending now (nothing when checks
    /// are off); see [`Checker::pending`].
    pub fn checker_pending(&self, nodes: &[super::driver::NodeSummary]) -> Vec<String> {
        self.checker.as_ref().map(|c| c.pending(self.state.now, nodes)).unwrap_or_default()
    }
}
