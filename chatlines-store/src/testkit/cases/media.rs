//! The media queue: fetch jobs written with their message, leased claims,
//! outcomes that mark the attachment and log its event.

use crate::testkit::fixtures::*;
use chatlines_core::store::prelude::*;
use chatlines_core::{
    Attachment, AttachmentState, Body, Event, MediaJob, MediaJobStatus, MediaOutcome, Message,
    NewInbound, SourceId, StoreError,
};
use std::sync::Arc;

/// A messenger message with a photo still at the messenger (`remote`) and,
/// when `stored_too`, a second attachment already available.
fn with_photo(
    line: chatlines_core::LineId,
    source: SourceId,
    message_id: &str,
    remote: &str,
    secs: i64,
    stored_too: bool,
) -> NewInbound {
    let mut photo = Attachment::new("photo.jpg", "image/jpeg", 0, remote);
    photo.mark_pending();
    let mut body = Body::text("look").with_attachment(photo);
    if stored_too {
        body = body.with_attachment(Attachment::new("note.txt", "text/plain", 3, "blob/note"));
    }
    let mut new = inbound_ext(line, source, "ann", message_id, secs);
    new.body = body;
    new
}

/// Stores one message with a pending photo; returns it and its job.
async fn one_job(store: &dyn Store, message_id: &str, secs: i64) -> (Message, MediaJob) {
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let new = with_photo(line.id, source.id, message_id, "tg:FILE", secs, false);
    let appended = must(store.append_inbound(new).await, "append_inbound");
    let mut jobs = must(store.media_jobs(appended.message.id).await, "media_jobs");
    assert_eq!(jobs.len(), 1, "one job for the pending attachment");
    let job = jobs.remove(0);
    (appended.message, job)
}

async fn events_of(store: &dyn Store) -> Vec<Event> {
    logged_events(store).await
}

fn attachment_events(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::AttachmentAvailable { .. } | Event::AttachmentFailed { .. }
            )
        })
        .collect()
}

/// Ingest writes one pending job per pending attachment with the message,
/// keeping the remote reference; available attachments, messages without
/// a source and redeliveries get none.
pub async fn media_jobs_written_with_the_message(store: Arc<dyn Store>) {
    let store = &*store;
    let line = new_line(store, 0).await;
    let source = new_source(store, line.id, 0).await;
    let new = with_photo(line.id, source.id, "m1", "tg:AgADBAAD", 10, true);
    let appended = must(store.append_inbound(new.clone()).await, "append_inbound");
    let stored = &appended.message.body.attachments;
    assert_eq!(stored[0].state, AttachmentState::Pending);
    assert_eq!(stored[0].remote.as_deref(), Some("tg:AgADBAAD"));
    assert_eq!(stored[1].state, AttachmentState::Available);

    let jobs = must(store.media_jobs(appended.message.id).await, "media_jobs");
    assert_eq!(jobs.len(), 1, "only the pending attachment is fetched");
    let job = &jobs[0];
    assert_eq!(job.message, appended.message.id);
    assert_eq!(job.session, appended.session.id);
    assert_eq!(job.index, 0);
    assert_eq!(job.source, source.id);
    assert_eq!(job.remote, "tg:AgADBAAD");
    assert_eq!(job.status, MediaJobStatus::Pending);
    assert_eq!(job.attempts, 0);
    assert_eq!(job.next_attempt_at, at(10));
    assert_eq!(job.lease, None);

    let again = must(store.append_inbound(new).await, "redelivery");
    assert!(again.duplicate);
    assert_eq!(
        must(store.media_jobs(appended.message.id).await, "media_jobs").len(),
        1,
        "a redelivery queues nothing new"
    );
    let claimed = must(store.claim_media(at(10), at(40), 10).await, "claim");
    assert_eq!(claimed.len(), 1, "one job in the whole queue");

    // A platform message (no source) with a pending attachment is not
    // fetched: there is no connector to ask.
    let mut internal_new = inbound(line.id, &internal("bob"), "hi", 11);
    let mut a = Attachment::new("x.png", "image/png", 0, "tg:X");
    a.mark_pending();
    internal_new.body = Body::text("x").with_attachment(a);
    let internal_msg = must(store.append_inbound(internal_new).await, "internal");
    assert!(must(store.media_jobs(internal_msg.message.id).await, "jobs").is_empty());
}

/// Claims lease due jobs; a lease blocks other claims until it expires;
/// only the current holder may finish.
pub async fn media_claim_and_lease(store: Arc<dyn Store>) {
    let store = &*store;
    let (message, _) = one_job(store, "m1", 100).await;
    assert!(
        must(store.claim_media(at(99), at(130), 10).await, "early").is_empty(),
        "nothing is due before its time"
    );
    let first = must(store.claim_media(at(100), at(130), 10).await, "claim");
    assert_eq!(first.len(), 1);
    let lease = some(first[0].lease, "a claimed job is leased");
    assert_eq!(lease.until, at(130));
    assert!(
        must(store.claim_media(at(120), at(150), 10).await, "leased").is_empty(),
        "a leased job is not claimed again"
    );
    let second = must(store.claim_media(at(130), at(160), 10).await, "expired");
    assert_eq!(second.len(), 1, "an expired lease is claimable");
    let newer = some(second[0].lease, "leased again");
    assert_ne!(newer.token, lease.token);

    let stale = store
        .finish_media(
            message.id,
            0,
            lease.token,
            MediaOutcome::Stored {
                blob: "telegram/FILE".into(),
                size: 5,
                mime_type: None,
            },
            at(131),
        )
        .await;
    assert!(
        matches!(fails(stale, "stale token"), StoreError::Conflict { .. }),
        "a lost lease cannot finish the job"
    );
    let unknown = store
        .finish_media(
            message.id,
            7,
            newer.token,
            MediaOutcome::Failed { reason: "x".into() },
            at(131),
        )
        .await;
    assert!(matches!(
        fails(unknown, "unknown job"),
        StoreError::NotFound { .. }
    ));
    let after = must(store.message(message.id).await, "message");
    assert_eq!(
        some(after, "message").body.attachments[0].state,
        AttachmentState::Pending,
        "a refused finish changes nothing"
    );
}

/// A stored fetch marks the attachment available (blob, size; the
/// download's MIME type only in place of a generic one) and logs
/// `AttachmentAvailable` once; the job is never claimed again.
pub async fn media_stored_marks_available(store: Arc<dyn Store>) {
    let store = &*store;
    let (message, _) = one_job(store, "m1", 100).await;
    let claimed = must(store.claim_media(at(100), at(130), 10).await, "claim");
    let token = some(claimed[0].lease, "lease").token;
    let done = must(
        store
            .finish_media(
                message.id,
                0,
                token,
                MediaOutcome::Stored {
                    blob: "telegram/FILE".into(),
                    size: 1234,
                    mime_type: Some("image/png".into()),
                },
                at(101),
            )
            .await,
        "finish",
    );
    assert_eq!(done.status, MediaJobStatus::Done);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.lease, None);
    let stored = some(must(store.message(message.id).await, "message"), "message");
    let a = &stored.body.attachments[0];
    assert_eq!(a.state, AttachmentState::Available);
    assert_eq!(a.blob, "telegram/FILE");
    assert_eq!(a.size, 1234);
    assert_eq!(
        a.mime_type, "image/jpeg",
        "a specific type from the webhook is kept over the download's"
    );
    assert_eq!(
        a.remote.as_deref(),
        Some("tg:FILE"),
        "the reference is kept"
    );
    assert_eq!(
        stored.body.text, "look",
        "the rest of the message is unchanged"
    );
    let page = must(
        store
            .messages(message.session, chatlines_core::Cursor::Start, 10)
            .await,
        "history",
    );
    assert_eq!(
        page[0].body.attachments[0].state,
        AttachmentState::Available
    );

    let events = events_of(store).await;
    assert_eq!(
        attachment_events(&events),
        vec![&Event::AttachmentAvailable {
            session: message.session,
            line: message.line,
            message: message.id,
            index: 0,
            blob: "telegram/FILE".into(),
            size: 1234,
            mime_type: "image/jpeg".into(),
        }]
    );
    assert!(
        must(store.claim_media(at(10_000), at(10_030), 10).await, "later").is_empty(),
        "a fetched job is never claimed again"
    );
    let twice = store
        .finish_media(
            message.id,
            0,
            token,
            MediaOutcome::Failed { reason: "x".into() },
            at(102),
        )
        .await;
    assert!(matches!(
        fails(twice, "finished"),
        StoreError::Conflict { .. }
    ));
    assert_eq!(attachment_events(&events_of(store).await).len(), 1);
}

/// A retry makes the job pending again later (an attempt counted, no
/// event); a failure marks the attachment failed with the reason and logs
/// `AttachmentFailed`.
pub async fn media_retry_then_fail(store: Arc<dyn Store>) {
    let store = &*store;
    let (message, _) = one_job(store, "m1", 100).await;
    let claimed = must(store.claim_media(at(100), at(130), 10).await, "claim");
    let token = some(claimed[0].lease, "lease").token;
    let retried = must(
        store
            .finish_media(
                message.id,
                0,
                token,
                MediaOutcome::Retry {
                    at: at(200),
                    error: "HTTP 502".into(),
                },
                at(101),
            )
            .await,
        "retry",
    );
    assert_eq!(retried.status, MediaJobStatus::Pending);
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.next_attempt_at, at(200));
    assert_eq!(retried.last_error.as_deref(), Some("HTTP 502"));
    assert!(attachment_events(&events_of(store).await).is_empty());
    assert!(
        must(store.claim_media(at(150), at(180), 10).await, "early").is_empty(),
        "not due before the retry time"
    );
    let again = must(store.claim_media(at(200), at(230), 10).await, "due");
    assert_eq!(again.len(), 1);
    let token = some(again[0].lease, "lease").token;
    let reason = "file of 30000000 bytes exceeds the limit of 20000000 bytes";
    let failed = must(
        store
            .finish_media(
                message.id,
                0,
                token,
                MediaOutcome::Failed {
                    reason: reason.into(),
                },
                at(201),
            )
            .await,
        "fail",
    );
    assert_eq!(failed.status, MediaJobStatus::Failed);
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.last_error.as_deref(), Some(reason));
    let stored = some(must(store.message(message.id).await, "message"), "message");
    assert_eq!(
        stored.body.attachments[0].state,
        AttachmentState::Failed {
            reason: reason.into()
        }
    );
    assert_eq!(
        must(store.media_jobs(message.id).await, "jobs"),
        vec![failed],
        "the job as finished"
    );
    assert_eq!(
        attachment_events(&events_of(store).await),
        vec![&Event::AttachmentFailed {
            session: message.session,
            line: message.line,
            message: message.id,
            index: 0,
            reason: reason.into(),
        }]
    );
    assert!(must(
        store.claim_media(at(99_999), at(100_030), 10).await,
        "later"
    )
    .is_empty());
}

/// Concurrent claims never return the same job.
pub async fn concurrent_media_claims_are_disjoint(store: Arc<dyn Store>) {
    let line = new_line(&*store, 0).await;
    let source = new_source(&*store, line.id, 0).await;
    for i in 0..24 {
        let new = with_photo(
            line.id,
            source.id,
            &format!("m{i}"),
            &format!("tg:F{i}"),
            10,
            false,
        );
        must(store.append_inbound(new).await, "append_inbound");
    }
    let claims = (0..6).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.claim_media(at(10), at(40), 5).await })
    });
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for claim in futures::future::join_all(claims).await {
        let jobs = must(must(claim, "join"), "claim");
        for j in jobs {
            total += 1;
            assert!(seen.insert((j.message, j.index)), "a job claimed twice");
        }
    }
    assert_eq!(total, 24, "every job claimed exactly once");
}
