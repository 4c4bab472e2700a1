//! Waking listeners after commits: one `NOTIFY` at a time per store,
//! outside the writing transactions.
//!
//! A `NOTIFY` inside a transaction takes a lock at commit that every other
//! notifying transaction of the cluster waits for, so writers that notify
//! commit one after the other. Writers therefore only mark that they
//! committed events; a task of the store sends the notification on its own
//! connection. Marks made while a notification is on its way are folded
//! into one more notification after it, so under load the store sends one
//! per round trip however many transactions commit.
//!
//! Listeners read the log after every notification and also every second
//! without one (see [`PgEventListener`](super::PgEventListener)), so a
//! notification that is lost (its connection failed, or the process ended
//! between the commit and the notification) delays them, never loses an
//! event.

use deadpool_postgres::Pool;
use std::sync::Arc;
use tokio::sync::watch;

/// Sends `NOTIFY` on the events channel after the store's commits.
/// Cheap to clone; the task ends when the last clone is dropped.
#[derive(Clone)]
pub(super) struct Wake {
    marks: Arc<watch::Sender<u64>>,
}

impl Wake {
    /// Starts the notifying task on the current Tokio runtime.
    pub(super) fn start(pool: Pool, channel: String) -> Self {
        let (marks, seen) = watch::channel(0u64);
        tokio::spawn(notify_loop(pool, channel, seen));
        Self {
            marks: Arc::new(marks),
        }
    }

    /// Marks that a transaction which wrote events has committed: a
    /// notification follows (at once, or after the one on its way).
    pub(super) fn committed(&self) {
        self.marks.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Sends one notification per batch of marks until every [`Wake`] is gone.
async fn notify_loop(pool: Pool, channel: String, mut seen: watch::Receiver<u64>) {
    while seen.changed().await.is_ok() {
        seen.borrow_and_update();
        if let Err(error) = notify(&pool, &channel).await {
            // Listeners also read the log on a timer: a lost notification
            // only delays them.
            tracing::debug!(%error, channel, "could not notify event listeners");
        }
    }
}

async fn notify(pool: &Pool, channel: &str) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let stmt = client
        .prepare_cached("SELECT pg_notify($1, '')")
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute(&stmt, &[&channel])
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
