//! What the TUI and `distlab run` show of a node.

use super::*;

impl Saga {
    pub(super) fn view_of(state: &State, disk: &Disk) -> NodeView {
        /// Tables can be long: the views show their most recent rows.
        const SHOWN: usize = 12;
        match state {
            State::Orchestrator(o) => {
                let mut v = NodeView::new("orchestrator", None);
                let running: Vec<_> =
                    o.sagas.iter().filter(|(_, r)| !matches!(r.phase, Phase::Ended(_))).collect();
                let s = v.section(format!("sagas running ({})", running.len()));
                for (saga, run) in running.iter().take(SHOWN) {
                    s.row(format!("saga {saga}"), run.describe());
                }
                let ended = o.sagas.len() - running.len();
                let s = v.section(format!("sagas ended ({ended}), latest"));
                for (saga, run) in
                    o.sagas.iter().rev().filter(|(_, r)| matches!(r.phase, Phase::Ended(_))).take(SHOWN)
                {
                    s.row(format!("saga {saga}"), run.describe());
                }
                let s = v.section("saga log (disk), latest sagas");
                for (saga, records) in disk.saga_log.iter().rev().take(SHOWN) {
                    let text: Vec<String> = records.iter().map(describe_record).collect();
                    s.row(format!("saga {saga}"), text.join(" → "));
                }
                v
            }
            State::Service(svc) => {
                let mut v = NodeView::new(svc.role.name(), None);
                match svc.role {
                    Role::OrderService => {
                        let s = v.section(format!("orders ({}), latest", svc.orders.len()));
                        for (no, row) in svc.orders.iter().rev().take(SHOWN) {
                            let o = row.order;
                            s.row(
                                format!("order {no}"),
                                format!(
                                    "saga {}: c{} {} x item{}: {:?}",
                                    row.saga, o.customer, o.qty, o.item, row.status
                                ),
                            );
                        }
                    }
                    Role::PaymentService => {
                        let s = v.section(format!("balances (untouched: {})", svc.start_balance));
                        for (c, b) in &svc.balances {
                            s.row(format!("c{c}"), b);
                        }
                    }
                    _ => {
                        let s = v.section(format!("stock (untouched: {})", svc.start_stock));
                        for (i, n) in &svc.stock {
                            s.row(format!("item{i}"), n);
                        }
                    }
                }
                v.section("idempotency").row("keys remembered", svc.processed.len());
                v
            }
            State::Bystander => NodeView::new("bystander", None),
        }
    }
}

impl SagaRun {
    /// A row for the node view.
    pub(super) fn describe(&self) -> String {
        let position = match (self.phase, self.failed) {
            (Phase::Ended(SagaOutcome::Completed), _) => "completed".to_string(),
            (Phase::Ended(SagaOutcome::Compensated(r)), _) => format!("compensated ({})", r.text()),
            (Phase::Awaiting { action, .. }, None) => format!("awaiting {}", action.name()),
            (Phase::Awaiting { action, .. }, Some((step, r))) => {
                format!("{} failed ({}); awaiting {}", step.name(), r.text(), action.name())
            }
            (Phase::Logging, _) => "logging".to_string(),
        };
        let o = self.order;
        format!("c{} {} x item{} ({}): {position}", o.customer, o.qty, o.item, o.amount)
    }
}

pub(super) fn describe_record(r: &Record) -> String {
    match *r {
        Record::Begin { order, .. } => format!("begin (c{} pays {})", order.customer, order.amount),
        Record::StepDone { step, .. } => format!("{} done", step.name()),
        Record::StepFailed { step, reason } => format!("{} failed: {}", step.name(), reason.text()),
        Record::Compensated { compensation } => format!("{} done", compensation.name()),
    }
}
