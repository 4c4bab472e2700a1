use crate::returned::offer_if_returned;
use async_trait::async_trait;
use chatlines_core::{Error, RoutePlan, Router, RoutingContext, RoutingRule};

/// Least loaded: the eligible operator with the fewest open sessions on the
/// line (ties by user id), never above a per-operator capacity. When
/// everyone is at capacity the session waits in the line's queue and is
/// handed out when a slot frees (close, transfer) or an operator arrives.
///
/// The capacity check happens inside the store's assigning transition, so
/// concurrent routing can never push an operator over capacity.
///
/// A session an operator returned to the queue is offered to the line's
/// operators (first come): the returner, whose load just dropped, would
/// otherwise get it straight back.
#[derive(Clone, Copy, Debug)]
pub struct LeastLoaded {
    /// Capacity used when the line's rule does not set one.
    pub default_capacity: u32,
}

impl Default for LeastLoaded {
    fn default() -> Self {
        Self {
            default_capacity: 5,
        }
    }
}

#[async_trait]
impl Router for LeastLoaded {
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        if let Some(plan) = offer_if_returned(&ctx) {
            return Ok(plan);
        }
        let capacity = match ctx.line.rule() {
            RoutingRule::LeastLoaded { capacity } => *capacity,
            _ => self.default_capacity,
        };
        Ok(RoutePlan::LeastLoaded { capacity })
    }
}
