use crate::returned::offer_if_returned;
use async_trait::async_trait;
use chatlines_core::{
    Availability, Error, FallbackCause, FieldId, FieldValue, RoutePlan, RouteReason, Router,
    RoutingContext, RoutingRule,
};

/// Responsible: the session goes straight to the employee held in a User
/// field of the client's linked account item (e.g. "Account manager").
///
/// When the client has no linked item, the field is empty, or that employee
/// is absent or blocked, it falls back to first come among the line's
/// operators; the reason (and the cause of a fallback) is recorded on the
/// session. A session an operator returned to the queue is offered to the
/// line's operators too, instead of going straight back to the employee in
/// the field.
#[derive(Clone, Debug, Default)]
pub struct Responsible {
    /// The field used when the line's rule does not name one.
    pub default_field: Option<FieldId>,
}

fn fallback(cause: FallbackCause) -> RoutePlan {
    RoutePlan::Offer {
        reason: RouteReason::ResponsibleFallback { cause },
    }
}

#[async_trait]
impl Router for Responsible {
    async fn plan(&self, ctx: RoutingContext<'_>) -> Result<RoutePlan, Error> {
        if let Some(plan) = offer_if_returned(&ctx) {
            return Ok(plan);
        }
        let field = match ctx.line.rule() {
            RoutingRule::Responsible { field } => field.clone(),
            _ => match &self.default_field {
                Some(f) => f.clone(),
                None => return Ok(fallback(FallbackCause::Misconfigured)),
            },
        };
        let Some(link) = ctx.account else {
            return Ok(fallback(FallbackCause::NoLinkedAccount));
        };
        let value = ctx
            .apps
            .read_field(&link.app, &link.item, &field)
            .await
            .map_err(|source| Error::Port {
                port: "app catalog",
                source,
            })?;
        let user = match value {
            Some(FieldValue::User(user)) => user,
            _ => return Ok(fallback(FallbackCause::FieldEmpty)),
        };
        let availability =
            ctx.directory
                .availability(&user)
                .await
                .map_err(|source| Error::Port {
                    port: "directory",
                    source,
                })?;
        Ok(match availability {
            Availability::Present => RoutePlan::Assign {
                operator: user,
                reason: RouteReason::Responsible { field },
            },
            Availability::Absent => fallback(FallbackCause::Absent),
            Availability::Blocked => fallback(FallbackCause::Blocked),
        })
    }
}
