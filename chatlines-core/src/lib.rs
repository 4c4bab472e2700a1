#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apps;
pub mod bot;
pub mod clock;
pub mod contact;
pub mod directory;
pub mod error;
pub mod events;
pub mod hours;
mod hub;
pub mod ids;
pub mod line;
pub mod machine;
pub mod media;
pub mod message;
pub mod messenger;
pub mod outbox;
pub mod priority;
pub mod relay;
pub mod routing;
pub mod session;
pub mod sla;
pub mod source;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod timer;
pub mod update;
pub mod validation;

pub use apps::{
    AccountLink, AccountValue, AppCatalog, AppSchema, FieldDef, FieldKind, FieldValue, FieldValues,
    RequestRecord,
};
pub use bot::{Bot, BotDecision, BotSettings, BotTurn};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contact::{Contact, ContactKey};
pub use directory::{Availability, Directory};
pub use error::{BoxError, Error, ErrorKind, PortError, StoreError};
pub use events::{
    BadPosition, Event, EventPosition, EventSink, LoggedEvent, NoEvents, UnreadableEvent,
};
pub use hours::{HoursError, OpenInterval, Schedule, TimeZones, WorkingHours};
pub use hub::{
    check_body, check_no_nul, BoundSource, ClientMessage, DueReport, EventFeed, Hub, HubBuilder,
    HubConfig, IngestOptions, LineOperator, OperatorStatus, Page, PageRequest, PageToken, Posted,
    TimerFailure, MAX_EXTERNAL_ID, MAX_PAGE, MAX_SLA_BREACHES,
};
pub use ids::{
    AppId, ContactId, EventId, FieldId, GroupId, ItemId, LineId, MessageId, OutboxId, RequestId,
    SessionId, SourceId, UnitId, UserId,
};
pub use line::{AppsBlock, Audience, ClientsBlock, EmployeesBlock, Line, LineConfig, RoutingRule};
pub use machine::LoadChange;
pub use media::{AttachmentState, MediaJob, MediaJobStatus, MediaOutcome};
pub use message::{
    Attachment, Author, Body, Cursor, Direction, ExternalRef, Message, MessageLimits,
};
pub use messenger::{
    Capabilities, DeliveryFailure, DeliveryStatus, EditKind, IgnoredUpdate, InboundEdit,
    InboundMessage, InboundReaction, Messenger, OutboundMessage, ParsedWebhook, SendError,
    SendReceipt, StatusUpdate, WebhookError, WebhookRequest,
};
pub use outbox::{DeliveryOutcome, Lease, OutboxEntry, OutboxStatus, LEASE_EXPIRED};
pub use priority::{Priority, PriorityCause, PriorityRules};
pub use relay::{Relay, RelayConfig, RelayError};
pub use routing::{RoutePlan, Router, RoutingContext};
pub use session::{
    CloseReason, FallbackCause, HandOverReason, RouteReason, Session, SessionOverview,
    SessionState, SessionStatus,
};
pub use sla::{
    SessionSla, SlaBreach, SlaChange, SlaClock, SlaDue, SlaDues, SlaSettings, SlaState, SlaTarget,
};
pub use source::{NewSource, Source};
pub use store::{
    AppLinkStore, Appended, EventLogStore, InboundFollowUp, LineStore, MediaStore, MessagePage,
    MessageStore, NewInbound, NewOutbound, OutboxStore, RosterEntry, SessionStore, SourceStore,
    Store, StoreCapabilities, TimerStore, Transition,
};
pub use timer::{ClaimedTimer, FireOutcome, NeverAnswered, Timer, TimerKind, TimerSettings};
pub use update::{
    DeliveryState, MessageChange, MessageState, MessageUpdate, Revision, UpdateOutcome,
};
pub use validation::{
    check_store_supports, clean_metadata, prepare_inbound, validate_line, FieldProblem, LineField,
    LineProblem, LineProblems,
};
