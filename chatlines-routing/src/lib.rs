#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod first_come;
mod least_loaded;
mod responsible;
mod returned;
mod round_robin;
mod rule;
#[cfg(feature = "tz")]
#[cfg_attr(docsrs, doc(cfg(feature = "tz")))]
mod tz;

pub use first_come::FirstCome;
pub use least_loaded::LeastLoaded;
pub use responsible::Responsible;
pub use round_robin::RoundRobin;
pub use rule::RuleRouter;
#[cfg(feature = "tz")]
pub use tz::TzDatabase;
