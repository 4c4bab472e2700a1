//! What a store can do beyond the required contract.

/// What a store supports, declared by [`SessionStore::capabilities`](crate::SessionStore::capabilities).
///
/// The [`Hub`](crate::Hub) refuses a line whose configuration needs
/// something its store cannot do when the line is created or changed, not
/// at its first routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreCapabilities {
    /// Answers [`RosterQuestion::NextAfterCursor`](crate::machine::RosterQuestion::NextAfterCursor)
    /// (round robin).
    pub round_robin: bool,
    /// Answers [`RosterQuestion::LeastLoaded`](crate::machine::RosterQuestion::LeastLoaded)
    /// (least loaded).
    pub least_loaded: bool,
}

impl StoreCapabilities {
    /// Every capability (the stores of `chatlines-store` declare this).
    pub const ALL: StoreCapabilities = StoreCapabilities {
        round_robin: true,
        least_loaded: true,
    };

    /// Only the required contract: no roster questions answered.
    pub const NONE: StoreCapabilities = StoreCapabilities {
        round_robin: false,
        least_loaded: false,
    };
}
