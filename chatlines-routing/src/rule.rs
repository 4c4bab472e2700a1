use crate::{FirstCome, LeastLoaded, Responsible, RoundRobin};
use async_trait::async_trait;
use chatlines_core::{Error, RoutePlan, Router, RoutingContext, RoutingRule};

/// The default router: applies each line's configured [`RoutingRule`] with
/// the matching strategy of this crate.
///
/// ```
/// use std::sync::Arc;
/// use chatlines_core::Router;
/// let router: Arc<dyn Router> = Arc::new(chatlines_routing::RuleRouter::new());
/// # let _ = router;
/// ```
#[derive(Clone, Debug, Default)]
pub struct RuleRouter {
    first_come: FirstCome,
    responsible: Responsible,
    round_robin: RoundRobin,
    least_loaded: LeastLoaded,
}

impl RuleRouter {
    /// A router with every built-in strategy.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Router for RuleRouter {
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        match ctx.line.rule() {
            RoutingRule::Responsible { .. } => self.responsible.plan(ctx).await,
            RoutingRule::RoundRobin => self.round_robin.plan(ctx).await,
            RoutingRule::LeastLoaded { .. } => self.least_loaded.plan(ctx).await,
            // First come, and any rule added to core later.
            _ => self.first_come.plan(ctx).await,
        }
    }
}
