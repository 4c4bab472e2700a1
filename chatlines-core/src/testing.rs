//! In-memory host ports for tests, examples and benchmarks (feature
//! `testing`): a [`MemoryDirectory`], a [`MemoryApps`] catalog and an
//! [`RecordingSink`] event sink.
//!
//! These stand in for what a *host* provides (its users and its business
//! applications); they are not meant for production.
//!
//! ```
//! use chatlines_core::testing::MemoryDirectory;
//! use chatlines_core::Availability;
//! let dir = MemoryDirectory::new();
//! dir.add_admin("root");
//! dir.add_to_group("it-staff", "ann");
//! dir.set_availability("ann", Availability::Present);
//! ```

use crate::apps::{AppCatalog, AppSchema, FieldValue, FieldValues};
use crate::directory::{Availability, Directory};
use crate::error::BoxError;
use crate::error::PortError;
use crate::events::{Event, EventSink, LoggedEvent};
use crate::ids::{AppId, FieldId, GroupId, ItemId, UnitId, UserId};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct DirectoryState {
    admins: HashSet<UserId>,
    groups: HashMap<GroupId, BTreeSet<UserId>>,
    unit_of: HashMap<UserId, UnitId>,
    parents: HashMap<UnitId, UnitId>,
    availability: HashMap<UserId, Availability>,
    names: HashMap<UserId, String>,
}

/// A directory held in memory. Users are [`Availability::Present`] unless
/// set otherwise; a user's display name defaults to their id.
#[derive(Default)]
pub struct MemoryDirectory {
    state: RwLock<DirectoryState>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user to the administrators group.
    pub fn add_admin(&self, user: impl Into<UserId>) {
        write(&self.state).admins.insert(user.into());
    }

    /// Creates a group (empty if new).
    pub fn add_group(&self, group: impl Into<GroupId>) {
        write(&self.state).groups.entry(group.into()).or_default();
    }

    /// Adds a user to a group, creating the group if needed.
    pub fn add_to_group(&self, group: impl Into<GroupId>, user: impl Into<UserId>) {
        write(&self.state)
            .groups
            .entry(group.into())
            .or_default()
            .insert(user.into());
    }

    /// Removes a user from a group.
    pub fn remove_from_group(&self, group: &GroupId, user: &UserId) {
        if let Some(g) = write(&self.state).groups.get_mut(group) {
            g.remove(user);
        }
    }

    /// Places a user in an org-structure unit.
    pub fn set_unit(&self, user: impl Into<UserId>, unit: impl Into<UnitId>) {
        write(&self.state).unit_of.insert(user.into(), unit.into());
    }

    /// Makes `parent` the parent unit of `unit`.
    pub fn set_parent_unit(&self, unit: impl Into<UnitId>, parent: impl Into<UnitId>) {
        write(&self.state)
            .parents
            .insert(unit.into(), parent.into());
    }

    /// Sets a user's availability.
    pub fn set_availability(&self, user: impl Into<UserId>, availability: Availability) {
        write(&self.state)
            .availability
            .insert(user.into(), availability);
    }

    /// Sets a user's display name.
    pub fn set_name(&self, user: impl Into<UserId>, name: impl Into<String>) {
        write(&self.state).names.insert(user.into(), name.into());
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    async fn is_admin(&self, user: &UserId) -> Result<bool, PortError> {
        Ok(read(&self.state).admins.contains(user))
    }

    async fn group_exists(&self, group: &GroupId) -> Result<bool, PortError> {
        Ok(read(&self.state).groups.contains_key(group))
    }

    async fn is_member(&self, group: &GroupId, user: &UserId) -> Result<bool, PortError> {
        Ok(read(&self.state)
            .groups
            .get(group)
            .is_some_and(|g| g.contains(user)))
    }

    async fn members(&self, group: &GroupId) -> Result<Vec<UserId>, PortError> {
        Ok(read(&self.state)
            .groups
            .get(group)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn unit_of(&self, user: &UserId) -> Result<Option<UnitId>, PortError> {
        Ok(read(&self.state).unit_of.get(user).cloned())
    }

    async fn parent_unit(&self, unit: &UnitId) -> Result<Option<UnitId>, PortError> {
        Ok(read(&self.state).parents.get(unit).cloned())
    }

    async fn availability(&self, user: &UserId) -> Result<Availability, PortError> {
        Ok(read(&self.state)
            .availability
            .get(user)
            .copied()
            .unwrap_or(Availability::Present))
    }

    async fn display_name(&self, user: &UserId) -> Result<String, PortError> {
        Ok(read(&self.state)
            .names
            .get(user)
            .cloned()
            .unwrap_or_else(|| user.to_string()))
    }
}

#[derive(Default)]
struct AppsState {
    schemas: HashMap<AppId, AppSchema>,
    items: HashMap<(AppId, ItemId), FieldValues>,
    next: u64,
}

/// Host applications held in memory. Items get ids `"<app>-1"`,
/// `"<app>-2"`, …; `create_item` rejects fields the schema does not have.
#[derive(Default)]
pub struct MemoryApps {
    state: RwLock<AppsState>,
}

impl MemoryApps {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) an application.
    pub fn add_app(&self, schema: AppSchema) {
        write(&self.state).schemas.insert(schema.id.clone(), schema);
    }

    /// Sets a field of an existing or new item directly (as the host's UI would).
    pub fn set_field(
        &self,
        app: &AppId,
        item: &ItemId,
        field: impl Into<FieldId>,
        value: FieldValue,
    ) {
        write(&self.state)
            .items
            .entry((app.clone(), item.clone()))
            .or_default()
            .insert(field.into(), value);
    }

    /// Adds an item with the given values (as the host's UI would create
    /// one) and returns its id.
    pub fn add_item(&self, app: &AppId, values: FieldValues) -> ItemId {
        let mut state = write(&self.state);
        state.next += 1;
        let item = ItemId(format!("{app}-{}", state.next));
        state.items.insert((app.clone(), item.clone()), values);
        item
    }

    /// The values of an item.
    pub fn item(&self, app: &AppId, item: &ItemId) -> Option<FieldValues> {
        read(&self.state)
            .items
            .get(&(app.clone(), item.clone()))
            .cloned()
    }

    /// How many items an app has.
    pub fn item_count(&self, app: &AppId) -> usize {
        read(&self.state)
            .items
            .keys()
            .filter(|(a, _)| a == app)
            .count()
    }
}

#[async_trait]
impl AppCatalog for MemoryApps {
    async fn schema(&self, app: &AppId) -> Result<Option<AppSchema>, PortError> {
        Ok(read(&self.state).schemas.get(app).cloned())
    }

    async fn create_item(&self, app: &AppId, values: FieldValues) -> Result<ItemId, PortError> {
        let mut state = write(&self.state);
        let schema = state
            .schemas
            .get(app)
            .ok_or_else(|| PortError::Rejected(format!("no application {app}")))?;
        if let Some(unknown) = values.keys().find(|f| schema.field(f).is_none()) {
            return Err(PortError::Rejected(format!(
                "application {app} has no field {unknown}"
            )));
        }
        state.next += 1;
        let item = ItemId(format!("{app}-{}", state.next));
        state.items.insert((app.clone(), item.clone()), values);
        Ok(item)
    }

    async fn item_exists(&self, app: &AppId, item: &ItemId) -> Result<bool, PortError> {
        Ok(read(&self.state)
            .items
            .contains_key(&(app.clone(), item.clone())))
    }

    async fn read_field(
        &self,
        app: &AppId,
        item: &ItemId,
        field: &FieldId,
    ) -> Result<Option<FieldValue>, PortError> {
        Ok(read(&self.state)
            .items
            .get(&(app.clone(), item.clone()))
            .and_then(|values| values.get(field).cloned()))
    }
}

/// An event sink that records every delivered event in order.
#[derive(Default)]
pub struct RecordingSink {
    events: Mutex<Vec<LoggedEvent>>,
}

impl RecordingSink {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events delivered so far (without their log envelope).
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events)
            .iter()
            .filter_map(|e| e.event().ok().cloned())
            .collect()
    }

    /// The events delivered so far, with their ids and positions.
    pub fn logged(&self) -> Vec<LoggedEvent> {
        lock(&self.events).clone()
    }

    /// The events delivered so far, clearing the recording.
    pub fn drain(&self) -> Vec<Event> {
        std::mem::take(&mut *lock(&self.events))
            .into_iter()
            .filter_map(|e| e.into_event().ok())
            .collect()
    }
}

#[async_trait]
impl EventSink for RecordingSink {
    async fn publish(&self, event: &LoggedEvent) -> Result<(), BoxError> {
        // Refused when it cannot be decoded, so every recorded event can.
        event.event()?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}
