//! Inbound media fetched off the request path: the attachment states and
//! the durable queue of fetch jobs.
//!
//! A connector's webhook names files by the messenger's reference (a
//! Telegram `file_id`, a WhatsApp media id). The message is stored at once
//! with such an attachment [`Pending`](AttachmentState::Pending), and the
//! same atomic store call writes one [`MediaJob`] per pending attachment
//! ([`machine::media_jobs`](crate::machine::media_jobs)). A background
//! worker claims jobs under a lease
//! ([`MediaStore::claim_media`](crate::MediaStore::claim_media)), downloads
//! the file, and reports a [`MediaOutcome`]; the store then marks the
//! attachment [`Available`](AttachmentState::Available) or
//! [`Failed`](AttachmentState::Failed) and logs
//! [`AttachmentAvailable`](crate::Event::AttachmentAvailable) or
//! [`AttachmentFailed`](crate::Event::AttachmentFailed) in the same
//! transaction ([`machine::finish_media`](crate::machine::finish_media)).

use crate::error::StoreError;
use crate::events::Event;
use crate::ids::{MessageId, SessionId, SourceId};
use crate::message::Message;
use crate::outbox::Lease;
use crate::store::Appended;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Whether an attachment's bytes are in the host's blob storage yet.
///
/// Serialized as `{"kind": "pending"}`, `{"kind": "failed", "reason": …}`;
/// an attachment that is available leaves the field out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttachmentState {
    /// The bytes are stored; [`Attachment::blob`](crate::Attachment::blob)
    /// names them.
    #[default]
    Available,
    /// Still at the messenger; a fetch job will download it.
    Pending,
    /// Could not be fetched and will not be retried.
    Failed {
        /// Why, for people (e.g. the file was over the size limit).
        reason: String,
    },
}

impl AttachmentState {
    /// Whether the bytes are stored.
    pub fn is_available(&self) -> bool {
        matches!(self, AttachmentState::Available)
    }

    /// Whether a fetch is still to come.
    pub fn is_pending(&self) -> bool {
        matches!(self, AttachmentState::Pending)
    }
}

/// Where a fetch job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaJobStatus {
    /// Waiting for a fetch (first attempt or a scheduled retry).
    Pending,
    /// Fetched and stored; never fetched again.
    Done,
    /// Given up; the reason is in [`MediaJob::last_error`].
    Failed,
}

impl MediaJobStatus {
    /// The status as stored (`pending`, `done`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaJobStatus::Pending => "pending",
            MediaJobStatus::Done => "done",
            MediaJobStatus::Failed => "failed",
        }
    }

    /// The status from its stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(MediaJobStatus::Pending),
            "done" => Some(MediaJobStatus::Done),
            "failed" => Some(MediaJobStatus::Failed),
            _ => None,
        }
    }
}

/// One attachment to download: written with its message, claimed under a
/// lease, finished by the lease holder. Identified by (`message`, `index`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaJob {
    /// The message holding the attachment.
    pub message: MessageId,
    /// Its session.
    pub session: SessionId,
    /// The attachment's position in the message's body.
    pub index: u32,
    /// The source the message came through (whose connector downloads it).
    pub source: SourceId,
    /// The messenger's reference to the file, as the connector wrote it
    /// (e.g. `tg:<file_id>`).
    pub remote: String,
    /// Where the job stands.
    pub status: MediaJobStatus,
    /// Fetch attempts made so far.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// The current claim by a worker, if any.
    pub lease: Option<Lease>,
    /// The last error seen (the reason, once failed).
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl MediaJob {
    /// A pending job due now.
    pub fn pending(
        message: MessageId,
        session: SessionId,
        index: u32,
        source: SourceId,
        remote: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            message,
            session,
            index,
            source,
            remote: remote.into(),
            status: MediaJobStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease: None,
            last_error: None,
            created_at: now,
        }
    }
}

/// What a worker reports after a fetch attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaOutcome {
    /// Downloaded and stored under `blob`.
    Stored {
        /// The blob key.
        blob: String,
        /// The real size in bytes.
        size: u64,
        /// The MIME type the messenger's download reported, if it did. It
        /// replaces the one parsed from the webhook only when that one is
        /// missing or generic (see [`is_generic_mime_type`]).
        mime_type: Option<String>,
    },
    /// Try again at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// The error seen.
        error: String,
    },
    /// Give up.
    Failed {
        /// Why.
        reason: String,
    },
}

/// What [`finish_media`] decided: the job after the attempt, the message
/// with its attachment updated (when it changed) and the events to log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaFinished {
    /// The job as it is to be stored.
    pub job: MediaJob,
    /// The message as it is to be stored, when its attachment changed.
    pub message: Option<Message>,
    /// The events to log with the change.
    pub events: Vec<Event>,
}

/// The fetch jobs [`append_inbound`](crate::MessageStore::append_inbound)
/// writes with a stored message: one per attachment marked
/// [`Pending`](AttachmentState::Pending) that names a remote reference, for
/// a message that came through a source; none for a duplicate.
///
/// ```
/// use chatlines_core::machine::media_jobs;
/// use chatlines_core::*;
/// # let now = chrono::Utc::now();
/// # let (line, contact, session) = (LineId(uuid::Uuid::now_v7()), ContactId(uuid::Uuid::now_v7()), SessionId(uuid::Uuid::now_v7()));
/// # let source = SourceId(uuid::Uuid::now_v7());
/// let mut photo = Attachment::new("p.jpg", "image/jpeg", 0, "tg:AgAD");
/// photo.mark_pending();
/// let body = Body::text("").with_attachment(photo);
/// let external = ExternalRef { source, message_id: "42".into() };
/// let message = Message::new(
///     MessageId(uuid::Uuid::now_v7()), session, line, contact, 1,
///     Direction::Inbound, Author::Client, body, Some(external), now,
/// );
/// # let key = ContactKey::External { source, external_user: "7".into() };
/// let appended = Appended::new(
///     message,
///     Session::opened(session, line, contact, now),
///     Contact::new(contact, key, "Ann", None, now),
///     true,
///     false,
/// );
/// let jobs = media_jobs(&appended);
/// assert_eq!(jobs.len(), 1);
/// assert_eq!(jobs[0].remote, "tg:AgAD");
/// ```
pub fn media_jobs(appended: &Appended) -> Vec<MediaJob> {
    if appended.duplicate {
        return Vec::new();
    }
    let m = &appended.message;
    let Some(external) = &m.external else {
        return Vec::new();
    };
    m.body
        .attachments
        .iter()
        .enumerate()
        .filter(|(_, a)| a.state.is_pending())
        .filter_map(|(i, a)| {
            let index = u32::try_from(i).ok()?;
            let remote = a.remote.as_ref()?;
            Some(MediaJob::pending(
                m.id,
                m.session,
                index,
                external.source,
                remote.clone(),
                m.created_at,
            ))
        })
        .collect()
}

/// Decides the result of a fetch attempt reported by the holder of `token`
/// on `job` (as stored), given the job's message (as stored, `None` if it
/// is gone).
///
/// `Conflict` when the job is not pending under that token (the lease was
/// lost, or the job is finished). A `Stored` or `Failed` outcome for a
/// message or attachment that no longer exists ends the job as failed
/// without events.
pub fn finish_media(
    job: &MediaJob,
    token: Uuid,
    message: Option<&Message>,
    outcome: MediaOutcome,
) -> Result<MediaFinished, StoreError> {
    let held = job.status == MediaJobStatus::Pending && job.lease.is_some_and(|l| l.token == token);
    if !held {
        return Err(StoreError::Conflict {
            what: "media job lease",
            id: format!("{}/{}", job.message, job.index),
            expected: u64::from(job.attempts),
            actual: u64::from(job.attempts),
        });
    }
    let mut next = job.clone();
    next.lease = None;
    next.attempts = job.attempts.saturating_add(1);
    // What the attachment becomes: (state, (blob, size, MIME) when stored).
    let (state, stored) = match outcome {
        MediaOutcome::Retry { at, error } => {
            next.next_attempt_at = at;
            next.last_error = Some(error);
            return Ok(MediaFinished {
                job: next,
                message: None,
                events: Vec::new(),
            });
        }
        MediaOutcome::Stored {
            blob,
            size,
            mime_type,
        } => (AttachmentState::Available, Some((blob, size, mime_type))),
        MediaOutcome::Failed { reason } => (AttachmentState::Failed { reason }, None),
    };
    let slot = usize::try_from(job.index).ok();
    let target = message.and_then(|m| {
        slot.filter(|i| *i < m.body.attachments.len())
            .map(|i| (m, i))
    });
    let Some((message, i)) = target else {
        next.status = MediaJobStatus::Failed;
        next.last_error = Some(format!(
            "attachment {} of message {} no longer exists",
            job.index, job.message
        ));
        return Ok(MediaFinished {
            job: next,
            message: None,
            events: Vec::new(),
        });
    };
    let mut updated = message.clone();
    let (session, line, id) = (updated.session, updated.line, updated.id);
    let attachment = &mut updated.body.attachments[i];
    if attachment.remote.is_none() {
        attachment.remote = Some(job.remote.clone());
    }
    let event = match stored {
        Some((blob, size, mime_type)) => {
            next.status = MediaJobStatus::Done;
            attachment.blob.clone_from(&blob);
            attachment.size = size;
            if let Some(mime) = mime_type.filter(|m| !m.is_empty()) {
                if is_generic_mime_type(&attachment.mime_type) {
                    attachment.mime_type = mime;
                }
            }
            Event::AttachmentAvailable {
                session,
                line,
                message: id,
                index: job.index,
                blob,
                size,
                mime_type: attachment.mime_type.clone(),
            }
        }
        None => {
            let reason = match &state {
                AttachmentState::Failed { reason } => reason.clone(),
                _ => String::new(),
            };
            next.status = MediaJobStatus::Failed;
            next.last_error = Some(reason.clone());
            Event::AttachmentFailed {
                session,
                line,
                message: id,
                index: job.index,
                reason,
            }
        }
    };
    attachment.state = state;
    Ok(MediaFinished {
        job: next,
        message: Some(updated),
        events: vec![event],
    })
}

/// Whether a MIME type says nothing about the content: empty, or a type
/// meaning "some bytes" (`application/octet-stream`,
/// `binary/octet-stream`, `application/unknown`, `*/*`), in any case and
/// with any parameters. A fetched attachment's type from the messenger's
/// download replaces only such a type.
///
/// ```
/// use chatlines_core::media::is_generic_mime_type;
/// assert!(is_generic_mime_type(""));
/// assert!(is_generic_mime_type("Application/Octet-Stream; charset=binary"));
/// assert!(!is_generic_mime_type("image/jpeg"));
/// ```
pub fn is_generic_mime_type(mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or_default().trim();
    essence.is_empty()
        || [
            "application/octet-stream",
            "binary/octet-stream",
            "application/unknown",
            "*/*",
        ]
        .iter()
        .any(|g| essence.eq_ignore_ascii_case(g))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContactId, LineId};
    use crate::message::{Attachment, Author, Body, Direction, ExternalRef};

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn message(body: Body) -> Message {
        let source = SourceId(Uuid::from_u128(9));
        Message::new(
            MessageId(Uuid::from_u128(1)),
            SessionId(Uuid::from_u128(2)),
            LineId(Uuid::from_u128(3)),
            ContactId(Uuid::from_u128(4)),
            1,
            Direction::Inbound,
            Author::Client,
            body,
            Some(ExternalRef {
                source,
                message_id: "7".into(),
            }),
            now(),
        )
    }

    fn leased(m: &Message, index: u32) -> (MediaJob, Uuid) {
        let token = Uuid::from_u128(77);
        let mut job = MediaJob::pending(
            m.id,
            m.session,
            index,
            SourceId(Uuid::from_u128(9)),
            "tg:F",
            now(),
        );
        job.lease = Some(Lease {
            token,
            until: now(),
        });
        (job, token)
    }

    #[test]
    fn an_available_attachment_serializes_as_before_and_states_round_trip() {
        let plain = Attachment::new("a.png", "image/png", 3, "blob/a");
        let json = serde_json::to_value(&plain).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"name": "a.png", "mime_type": "image/png", "size": 3, "blob": "blob/a"})
        );
        let old: Attachment = serde_json::from_value(json).expect("a body stored before states");
        assert_eq!(old.state, AttachmentState::Available);

        let mut failed = Attachment::new("a.png", "image/png", 0, "tg:F");
        failed.mark_pending();
        failed.state = AttachmentState::Failed {
            reason: "too large".into(),
        };
        let json = serde_json::to_value(&failed).expect("json");
        assert_eq!(
            json["state"],
            serde_json::json!({"kind": "failed", "reason": "too large"})
        );
        assert_eq!(json["remote"], serde_json::json!("tg:F"));
        assert_eq!(
            serde_json::from_value::<Attachment>(json).expect("back"),
            failed
        );
    }

    #[test]
    fn an_outcome_for_an_attachment_that_is_gone_fails_the_job_without_events() {
        let m = message(Body::text("no files"));
        let (job, token) = leased(&m, 3);
        let stored = MediaOutcome::Stored {
            blob: "b".into(),
            size: 1,
            mime_type: None,
        };
        let decided = finish_media(&job, token, Some(&m), stored.clone()).expect("decided");
        assert_eq!(decided.job.status, MediaJobStatus::Failed);
        assert_eq!((decided.message, decided.events), (None, Vec::new()));
        let gone = finish_media(&job, token, None, stored).expect("decided");
        assert_eq!(gone.job.status, MediaJobStatus::Failed);
    }

    #[test]
    fn the_downloads_type_replaces_only_a_generic_one() {
        for (webhook, reported, kept) in [
            (
                "application/octet-stream",
                Some("application/pdf"),
                "application/pdf",
            ),
            ("", Some("application/pdf"), "application/pdf"),
            ("image/jpeg", Some("application/octet-stream"), "image/jpeg"),
            ("image/jpeg", Some("image/png"), "image/jpeg"),
            ("application/octet-stream", None, "application/octet-stream"),
        ] {
            let mut a = Attachment::new("f", webhook, 0, "tg:F");
            a.mark_pending();
            let m = message(Body::text("").with_attachment(a));
            let (job, token) = leased(&m, 0);
            let stored = MediaOutcome::Stored {
                blob: "b".into(),
                size: 1,
                mime_type: reported.map(str::to_owned),
            };
            let decided = finish_media(&job, token, Some(&m), stored).expect("decided");
            let after = decided.message.expect("the message changes");
            assert_eq!(
                after.body.attachments[0].mime_type, kept,
                "{webhook:?} with {reported:?}"
            );
            assert!(matches!(
                &decided.events[0],
                Event::AttachmentAvailable { mime_type, .. } if mime_type == kept
            ));
        }
    }

    #[test]
    fn only_the_lease_holder_finishes_a_pending_job() {
        let mut photo = Attachment::new("p.jpg", "image/jpeg", 0, "tg:F");
        photo.mark_pending();
        let m = message(Body::text("").with_attachment(photo));
        let (job, token) = leased(&m, 0);
        let fail = MediaOutcome::Failed { reason: "x".into() };
        assert!(matches!(
            finish_media(&job, Uuid::from_u128(1), Some(&m), fail.clone()),
            Err(StoreError::Conflict { .. })
        ));
        let mut done = job.clone();
        done.status = MediaJobStatus::Done;
        assert!(matches!(
            finish_media(&done, token, Some(&m), fail.clone()),
            Err(StoreError::Conflict { .. })
        ));
        let decided = finish_media(&job, token, Some(&m), fail).expect("decided");
        let after = decided.message.expect("the message changes");
        assert_eq!(
            after.body.attachments[0].state,
            AttachmentState::Failed { reason: "x".into() }
        );
        assert_eq!(
            after.body.attachments[0].blob, "tg:F",
            "the reference stays"
        );
    }
}
