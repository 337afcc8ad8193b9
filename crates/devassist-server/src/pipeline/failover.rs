//! The failover layer around one try: the replicas in the balancer's order, and a failed
//! try goes to the next replica only when the upstream cannot have acted on the request
//! (`GatewayError::may_resend`: not connected, refused, declined) and the next replica's
//! retry budget allows it. A request that was written to a backend — one that crashed under
//! it, or closed the connection without an answer — is never sent again.

use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_core::GatewayError;
use std::future::Future;

impl Gateway {
    /// Runs `call` on the route's replicas in turn until one succeeds or a failure may not
    /// be retried.
    pub(super) async fn first_that_answers<T, F, Fut>(
        &self,
        route: &ModelEntry,
        affinity: Option<&str>,
        mut call: F,
    ) -> Result<T, GatewayError>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let order = self.pool.order(&route.backends, affinity);
        let slots = self.pool.slots();
        let mut last: Option<GatewayError> = None;
        for &index in &order {
            let Some(slot) = slots.get(index) else {
                continue;
            };
            match &last {
                None => slot.retries.deposit(),
                Some(e) if !slot.retries.withdraw() => {
                    tracing::warn!(model = %route.name(), backend = %slot.name, "Retry budget spent: not failing over");
                    return Err(e.clone());
                }
                Some(_) => {}
            }
            match call(index).await {
                Ok(value) => return Ok(value),
                Err(e) if e.may_resend() => {
                    tracing::warn!(model = %route.name(), backend = %slot.name, error = %e, "Replica failed before the request reached it: trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| GatewayError::internal("the model has no backend")))
    }
}
