//! `GET /status/queue`: how much each backend and each model is wanted, as small JSON that an
//! external scaler reads (KEDA's `metrics-api` trigger, a script, an HPA adapter) to bring a
//! backend up from zero and to size it. It reads the pool's counters and changes nothing.
//!
//! Per backend: `queued` (requests waiting for it to start or for a free slot), `in_flight`,
//! `wanted` (a managed backend that is starting or ready, i.e. until its `idle_timeout`
//! passes; an always-on one with requests) and `demand = max(queued + in_flight, wanted)`,
//! the one number to scale on: ≥ 1 from the first waiting request until devassist would
//! have stopped the backend itself, then 0. Per model: the same, summed over its backends.
//! Objects are keyed by name so a JSON path (`backends.gpu.demand`) reaches one value.

use crate::pool::{Phase, Slot};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<AppState> {
    Router::new().route("/status/queue", get(queue))
}

/// One backend's or model's demand; `/metrics` exports the same numbers.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Demand {
    pub queued: u64,
    pub in_flight: u64,
    pub wanted: bool,
    pub demand: u64,
}

impl Demand {
    fn new(queued: u64, in_flight: u64, wanted: bool) -> Self {
        Self {
            queued,
            in_flight,
            wanted,
            demand: (queued + in_flight).max(u64::from(wanted)),
        }
    }

    pub fn of(slot: &Slot) -> Self {
        let queued = slot.limiter.queued();
        let in_flight = slot.stats.in_flight();
        let wanted = match slot.lifecycle() {
            Some(l) => {
                let s = l.snapshot();
                matches!(s.phase, Phase::Starting | Phase::Ready) || s.restart_pending
            }
            None => queued + in_flight > 0,
        };
        Self::new(queued, in_flight, wanted)
    }

    fn add(self, other: Self) -> Self {
        Self::new(
            self.queued + other.queued,
            self.in_flight + other.in_flight,
            self.wanted || other.wanted,
        )
    }
}

/// A model's demand: the sum over its backends.
pub(crate) fn model_demand(slots: &[std::sync::Arc<Slot>], backends: &[usize]) -> Demand {
    backends
        .iter()
        .filter_map(|&i| slots.get(i))
        .map(|s| Demand::of(s))
        .fold(Demand::default(), Demand::add)
}

#[derive(Serialize)]
struct BackendDemand {
    provider: &'static str,
    state: &'static str,
    #[serde(flatten)]
    demand: Demand,
}

#[derive(Serialize)]
struct ModelDemand {
    backends: Vec<String>,
    #[serde(flatten)]
    demand: Demand,
}

#[derive(Serialize)]
struct Queue {
    backends: BTreeMap<String, BackendDemand>,
    models: BTreeMap<String, ModelDemand>,
}

async fn queue(State(st): State<AppState>) -> axum::Json<Queue> {
    let slots = st.pool.slots();
    let backends = slots
        .iter()
        .map(|s| {
            let state = s
                .lifecycle()
                .map_or("ready", |l| l.snapshot().phase.as_str());
            let d = BackendDemand {
                provider: s.provider().as_str(),
                state,
                demand: Demand::of(s),
            };
            (s.name.clone(), d)
        })
        .collect();
    let models = st
        .router
        .models()
        .iter()
        .map(|m| {
            let used = m.backends.iter().filter_map(|&i| slots.get(i));
            let demand = model_demand(slots, &m.backends);
            let d = ModelDemand {
                backends: used.map(|s| s.name.clone()).collect(),
                demand,
            };
            (m.settings.name.clone(), d)
        })
        .collect();
    axum::Json(Queue { backends, models })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_is_the_load_or_one_while_wanted() {
        assert_eq!(Demand::new(0, 0, false).demand, 0);
        assert_eq!(
            Demand::new(0, 0, true).demand,
            1,
            "idle but not yet stopped"
        );
        assert_eq!(Demand::new(3, 2, true).demand, 5);
        assert_eq!(Demand::new(2, 0, false).demand, 2);
        let sum = Demand::new(1, 0, false).add(Demand::new(0, 2, true));
        assert_eq!(sum, Demand::new(1, 2, true));
        assert_eq!(sum.demand, 3);
    }
}
