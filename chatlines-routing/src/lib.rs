#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod first_come;
mod least_loaded;
mod responsible;
mod returned;
mod round_robin;
mod rule;

pub use first_come::FirstCome;
pub use least_loaded::LeastLoaded;
pub use responsible::Responsible;
pub use round_robin::RoundRobin;
pub use rule::RuleRouter;
