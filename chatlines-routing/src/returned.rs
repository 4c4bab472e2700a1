use chatlines_core::{RoutePlan, RouteReason, RoutingContext};

/// The plan for a session an operator handed back to the queue: offer it to
/// the line's operators (first come).
///
/// Re-running an assigning rule would give it straight back to the operator
/// who returned it: under least loaded their load just dropped, under round
/// robin they are often next in turn, and under responsible they are the
/// employee in the field. `None` for any other session.
pub(crate) fn offer_if_returned(ctx: &RoutingContext<'_>) -> Option<RoutePlan> {
    match &ctx.session.reason {
        RouteReason::Returned { by } => Some(RoutePlan::Offer {
            reason: RouteReason::Returned { by: by.clone() },
        }),
        _ => None,
    }
}
