//! The clients: each process's state machine (issue an operation, send
//! an attempt, retry, redirect, time out, complete) driven by the engine's
//! events, and the client history it records (Jepsen's rules: invoke,
//! then ok, fail or info).

use super::engine::Sim;
use super::engine::StepRecord;
use super::history::{HistoryEvent, HistoryKind};
use super::monitor::{At, Checker};
use super::queue::{Event, Payload};
use super::trace::{NONE, TraceKind};
use crate::nodes::client::{ClientAction, Pending as PendingOp};
use crate::nodes::{AnswerOf, ClientRef, ClientRequest, NodeId, OpOf, Protocol, Workload};
use crate::util::make_mut;

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    pub(super) fn client_next(&mut self, slot: u32) -> Option<StepRecord> {
        let c = &self.state.clients[slot as usize];
        let spec_i = c.spec as usize;
        if self.state.issued[spec_i] >= self.cfg.clients[spec_i].ops {
            self.state.clients[slot as usize].done = true;
            return None;
        }
        self.state.issued[spec_i] += 1;
        if self.state.issued[spec_i] >= self.cfg.clients[spec_i].ops {
            // The last operation of this entry: every slot of the entry is
            // done issuing (open operations still complete).
            self.state.clients.change_where(|c| c.spec as usize == spec_i && !c.done, |c| c.done = true);
        }
        let step = self.begin_step();
        self.state.next_op += 1;
        let op_id = self.state.next_op;
        let now = self.state.now;
        let nodes = self.cfg.cluster.len() as u32;
        let spec = &self.cfg.clients[spec_i];
        let c = &mut self.state.clients[slot as usize];
        let op = <P::Workload as Workload>::next_op(&self.cfg.params, spec, &mut c.rng, op_id);
        let target = c.choose_target::<P::Workload>(spec, &op, nodes);
        c.pending =
            Some(PendingOp { op_id, op: op.clone(), attempt: 0, invoked_at: now, target, redirects: 0 });
        let (endpoint, process) = (c.endpoint, c.process);
        self.state.stats.ops_invoked += 1;
        self.trace.record(step, now.0, TraceKind::Invoke, endpoint.0, target.0, op_id, 0, || {
            format!("process {process} invokes {op}")
        });
        self.history_event(slot, HistoryKind::Invoke, op_id, op, AnswerOf::<P>::default(), None);
        self.send_attempt(slot);
        Some(self.record(TraceKind::Invoke, Some(endpoint), Some(target.endpoint()), None))
    }

    /// Sends the open operation's current attempt and arms its timeout.
    pub(super) fn send_attempt(&mut self, slot: u32) {
        let c = &self.state.clients[slot as usize];
        let p = c.pending.as_ref().expect("an attempt needs an open operation");
        let spec = &self.cfg.clients[c.spec as usize];
        let req = ClientRequest {
            from: ClientRef { endpoint: c.endpoint, op_id: p.op_id, attempt: p.attempt },
            idempotency_key: p.op_id,
            op: p.op.clone(),
            invoked_at_us: p.invoked_at.0 as i64,
            session: if spec.read_your_writes == crate::nodes::client::ReadYourWrites::Session {
                c.session_token
            } else {
                0
            },
        };
        let (endpoint, target, op_id, attempt) = (c.endpoint, p.target, p.op_id, p.attempt);
        let at = self.state.now.after(spec.timeout);
        self.send(endpoint, target.endpoint(), Payload::Request(req));
        self.schedule(at, Event::ClientTimeout { slot, op_id, attempt });
    }

    pub(super) fn client_act(&mut self, slot: u32, action: ClientAction<AnswerOf<P>>, from: Option<NodeId>) {
        let now = self.state.now;
        let step = self.state.stats.events;
        match action {
            ClientAction::Ignore => {}
            ClientAction::Send(to) => {
                let c = &self.state.clients[slot as usize];
                let (endpoint, op_id) = (c.endpoint, c.pending.as_ref().map_or(0, |p| p.op_id));
                let name = self.cfg.cluster.name(to).to_string();
                self.trace.record(step, now.0, TraceKind::Retry, endpoint.0, to.0, op_id, 0, || {
                    format!("retry op {op_id} at {name}")
                });
                self.send_attempt(slot);
            }
            ClientAction::Complete { ok, answer } => {
                let p =
                    self.state.clients[slot as usize].pending.take().expect("completing an open operation");
                let kind = if ok { HistoryKind::Ok } else { HistoryKind::Fail };
                if ok {
                    self.state.stats.ops_ok += 1
                } else {
                    self.state.stats.ops_fail += 1
                }
                self.complete(slot, kind, p.op_id, p.op, answer, from);
            }
            ClientAction::GiveUp => {
                let p =
                    self.state.clients[slot as usize].pending.take().expect("giving up an open operation");
                self.state.stats.ops_info += 1;
                self.complete(slot, HistoryKind::Info, p.op_id, p.op, AnswerOf::<P>::default(), None);
                // A process whose last operation is unknown is retired; a
                // fresh process takes the slot (Jepsen's rule).
                let fresh = self.state.next_process;
                self.state.next_process += 1;
                let c = &mut self.state.clients[slot as usize];
                c.process = fresh;
                c.written.clear();
                c.session_token = 0;
            }
        }
    }

    pub(super) fn complete(
        &mut self,
        slot: u32,
        kind: HistoryKind,
        op_id: u64,
        op: OpOf<P>,
        value: AnswerOf<P>,
        from: Option<NodeId>,
    ) {
        let now = self.state.now;
        let step = self.state.stats.events;
        let c = &self.state.clients[slot as usize];
        let (endpoint, process, spec_i) = (c.endpoint, c.process, c.spec as usize);
        self.trace.record(
            step,
            now.0,
            TraceKind::Complete,
            endpoint.0,
            from.map_or(NONE, |n| n.0),
            op_id,
            kind as u64,
            || {
                format!(
                    "process {process}: {op} -> {kind:?}{}",
                    if value == AnswerOf::<P>::default() { String::new() } else { format!(" {value}") }
                )
            },
        );
        self.history_event(slot, kind, op_id, op, value, from);
        // A closed-loop process thinks, then issues its next operation; an
        // open-loop one waits for an arrival.
        if self.cfg.clients[spec_i].arrival.is_none() {
            let at = now.after(self.cfg.clients[spec_i].interval);
            self.schedule(at, Event::ClientNext { slot });
        }
    }

    /// An arrival of open-loop entry `spec`: the operation goes to a
    /// process of the entry with none open (the lowest-numbered); if every
    /// one has an operation open, the arrival is shed (counted, never
    /// sent). Then the next arrival is scheduled, until the entry has
    /// issued its `ops`.
    #[inline(never)]
    pub(super) fn arrival(&mut self, spec: u32) -> Option<StepRecord> {
        let s = spec as usize;
        if self.state.issued[s] >= self.cfg.clients[s].ops {
            return None;
        }
        let gap = self.cfg.clients[s].arrival.as_ref().map(|a| a.next_gap(&mut self.state.arrivals[s]))?;
        let idle = self.state.clients.iter().position(|c| c.spec as u32 == spec && c.pending.is_none());
        let record = match idle {
            Some(slot) => self.client_next(slot as u32),
            None => {
                self.state.issued[s] += 1;
                self.state.shed[s] += 1;
                if self.state.issued[s] >= self.cfg.clients[s].ops {
                    self.state.clients.change_where(|c| c.spec as u32 == spec && !c.done, |c| c.done = true);
                }
                let step = self.begin_step();
                let now = self.state.now.0;
                let name = self.cfg.clients[s].name.clone();
                self.trace.record(step, now, TraceKind::Note, NONE, NONE, 0, 1, || {
                    format!("{name}: arrival shed, every process has an operation open")
                });
                Some(self.record(TraceKind::Note, None, None, None))
            }
        };
        if self.state.issued[s] < self.cfg.clients[s].ops {
            let at = self.state.now.after(gap);
            self.schedule(at, Event::Arrival { spec });
        }
        record
    }

    pub(super) fn history_event(
        &mut self,
        slot: u32,
        kind: HistoryKind,
        op_id: u64,
        op: OpOf<P>,
        value: AnswerOf<P>,
        node: Option<NodeId>,
    ) {
        if !self.cfg.record_history && self.checker.is_none() && !self.trace.streaming() {
            return;
        }
        let c = &self.state.clients[slot as usize];
        let answer = if kind == HistoryKind::Invoke { None } else { Some(&value) };
        let register = <P::Workload as Workload>::as_register(&op, answer);
        let ev = HistoryEvent {
            step: self.state.stats.events,
            time: self.state.now,
            process: c.process,
            client: c.spec,
            op_id,
            kind,
            op,
            value,
            node,
            register,
        };
        if let Some(ch) = self.checker.as_mut().map(make_mut) {
            ch.on_history(At { step: ev.step, time: ev.time }, &ev);
        }
        if self.cfg.record_history || self.trace.streaming() {
            // A replay takes back what it recorded before.
            let erased = self.history_ahead.pop_front().unwrap_or_else(|| ev.erase());
            self.trace.history(&erased);
            if self.cfg.record_history {
                self.history.events.push(erased);
            }
        }
    }

    pub(super) fn client_name(&self, slot: u32) -> String {
        self.endpoint_name(self.state.clients[slot as usize].endpoint)
    }

    /// An attempt's timeout: if the operation still waits for that attempt,
    /// the client retries or gives up.
    pub(super) fn client_timeout(&mut self, slot: u32, op_id: u64, attempt: u32) -> Option<StepRecord> {
        let c = &self.state.clients[slot as usize];
        if c.pending.as_ref().is_none_or(|p| p.op_id != op_id || p.attempt != attempt) {
            return None;
        }
        let (spec_i, endpoint) = (c.spec as usize, c.endpoint);
        let step = self.begin_step();
        let now = self.state.now.0;
        self.trace.record(step, now, TraceKind::Timer, endpoint.0, NONE, 0, op_id, || {
            format!("client timeout: op {op_id} attempt {attempt}")
        });
        let spec = &self.cfg.clients[spec_i];
        let nodes = self.cfg.cluster.len() as u32;
        let action = self.state.clients[slot as usize].on_timeout::<P::Workload>(spec, op_id, attempt, nodes);
        self.client_act(slot, action, None);
        Some(self.record(TraceKind::Timer, Some(endpoint), None, None))
    }
}
