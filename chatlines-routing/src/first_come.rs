use async_trait::async_trait;
use chatlines_core::{Error, RoutePlan, RouteReason, Router, RoutingContext};

/// First come: the session is offered to the line's operators group; the
/// first present member to `take` it gets it (the store guarantees exactly
/// one winner). O(1) per decision, whatever the group's size.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstCome;

#[async_trait]
impl Router for FirstCome {
    async fn plan(&self, _ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        Ok(RoutePlan::Offer {
            reason: RouteReason::FirstCome,
        })
    }
}
