use crate::returned::offer_if_returned;
use async_trait::async_trait;
use chatlines_core::{Error, RoutePlan, Router, RoutingContext};

/// Round robin: fair rotation among the line's eligible operators (present
/// members of the operators group), in user-id order.
///
/// The rotation cursor lives in the store and advances in the same atomic
/// transition that assigns the session, so concurrent hubs never hand two
/// sessions to the same turn, and the rotation survives restarts. Over `N`
/// sessions and `k` operators each gets `⌊N/k⌋` or `⌈N/k⌉`. When nobody is
/// eligible the session stays queued until someone becomes available.
///
/// A session an operator returned to the queue is offered to the line's
/// operators (first come) rather than rotated straight back to them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobin;

#[async_trait]
impl Router for RoundRobin {
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(offer_if_returned(&ctx).unwrap_or(RoutePlan::RoundRobin))
    }
}
