//! The guard stage: whether this caller may use this model for this feature. Today it
//! enforces the admin's feature switches; access control (keys, tokens, limits) plugs in
//! here, after routing and before the pool, so that no surface can skip it.

use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_core::{CallContext, Feature, GatewayError};

impl Gateway {
    /// 403 naming what is not allowed.
    pub fn admit(
        &self,
        ctx: &CallContext,
        route: &ModelEntry,
        feature: Feature,
    ) -> Result<(), GatewayError> {
        super::observe::admitted(ctx, feature, &self.telemetry.metrics.labels, route.name());
        self.check_feature(feature).map(|_| ())
    }
}
