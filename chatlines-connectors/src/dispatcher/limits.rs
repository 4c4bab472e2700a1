//! Client-side rate limits per chat and per source (`governor`).

use chatlines_core::SourceId;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// A rate: `per_second` sends per second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rate {
    /// Sustained sends per second (at least 1).
    pub per_second: u32,
    /// How many may go at once before the rate applies (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `per_second` with a burst of the same size.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second,
            burst: per_second,
        }
    }

    /// Sets the burst.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    fn quota(self) -> Quota {
        let rate = NonZeroU32::new(self.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(rate).allow_burst(burst)
    }
}

/// The limits of one messenger kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KindLimits {
    /// Per chat (source + address).
    pub per_chat: Option<Rate>,
    /// Per source (bot, phone number).
    pub per_source: Option<Rate>,
}

impl KindLimits {
    /// Limits per chat and per source.
    pub fn new(per_chat: Option<Rate>, per_source: Option<Rate>) -> Self {
        Self {
            per_chat,
            per_source,
        }
    }
}

/// Rate limits by messenger kind.
///
/// Defaults follow the messengers' published limits: Telegram 1 message
/// per second per chat (burst 1) and 30 per second per bot; WhatsApp 80
/// per second per phone number. Kinds not listed are not limited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RateLimits {
    /// Whether limits apply at all.
    pub enabled: bool,
    /// Limits by kind.
    pub kinds: HashMap<String, KindLimits>,
}

impl Default for RateLimits {
    fn default() -> Self {
        let mut kinds = HashMap::new();
        kinds.insert(
            "telegram".to_owned(),
            KindLimits::new(
                Some(Rate::per_second(1).with_burst(1)),
                Some(Rate::per_second(30)),
            ),
        );
        kinds.insert(
            "whatsapp".to_owned(),
            KindLimits::new(None, Some(Rate::per_second(80))),
        );
        Self {
            enabled: true,
            kinds,
        }
    }
}

impl RateLimits {
    /// No limits.
    pub fn off() -> Self {
        Self {
            enabled: false,
            kinds: HashMap::new(),
        }
    }

    /// Sets the limits of one kind.
    pub fn with_kind(mut self, kind: impl Into<String>, limits: KindLimits) -> Self {
        self.kinds.insert(kind.into(), limits);
        self
    }
}

struct KindLimiters {
    per_chat: Option<DefaultKeyedRateLimiter<(SourceId, String)>>,
    per_source: Option<DefaultKeyedRateLimiter<SourceId>>,
}

/// The live limiters.
pub(super) struct Limiters {
    kinds: HashMap<String, KindLimiters>,
    clock: DefaultClock,
}

impl Limiters {
    pub(super) fn new(config: &RateLimits) -> Self {
        let kinds = if config.enabled {
            config
                .kinds
                .iter()
                .map(|(kind, l)| {
                    (
                        kind.clone(),
                        KindLimiters {
                            per_chat: l
                                .per_chat
                                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
                            per_source: l
                                .per_source
                                .map(|r| DefaultKeyedRateLimiter::keyed(r.quota())),
                        },
                    )
                })
                .collect()
        } else {
            HashMap::new()
        };
        Self {
            kinds,
            clock: DefaultClock::default(),
        }
    }

    /// Waits until a send to `(source, address)` is allowed. If that would
    /// be after `deadline`, gives up and says how long it would have been.
    pub(super) async fn acquire(
        &self,
        kind: &str,
        source: SourceId,
        address: &str,
        deadline: Instant,
    ) -> Result<(), Duration> {
        let Some(l) = self.kinds.get(kind) else {
            return Ok(());
        };
        if let Some(chat) = &l.per_chat {
            let key = (source, address.to_owned());
            loop {
                match chat.check_key(&key) {
                    Ok(()) => break,
                    Err(not_until) => {
                        self.pause(not_until.wait_time_from(self.clock.now()), deadline)
                            .await?
                    }
                }
            }
        }
        if let Some(per_source) = &l.per_source {
            loop {
                match per_source.check_key(&source) {
                    Ok(()) => break,
                    Err(not_until) => {
                        self.pause(not_until.wait_time_from(self.clock.now()), deadline)
                            .await?
                    }
                }
            }
        }
        Ok(())
    }

    async fn pause(&self, wait: Duration, deadline: Instant) -> Result<(), Duration> {
        if Instant::now() + wait > deadline {
            return Err(wait);
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }
}
