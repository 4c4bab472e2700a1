use crate::returned::offer_if_returned;
use async_trait::async_trait;
use chatlines_core::{Error, RoutePlan, RouteReason, Router, RoutingContext};

/// First come: the session is offered to the line's operators group; the
/// first present member to `take` it gets it (the store guarantees exactly
/// one winner). O(1) per decision, whatever the group's size. A session an
/// operator returned to the queue is offered the same way, recording who
/// returned it.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstCome;

#[async_trait]
impl Router for FirstCome {
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(offer_if_returned(&ctx).unwrap_or(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        }))
    }
}
