//! The room registry: which connections are in which room.
//!
//! Reading a room's members happens for every broadcast message, so a
//! broadcast only clones an `Arc` to an immutable snapshot of them. A join or
//! a leave changes the snapshot in place when no broadcast holds it (O(1):
//! a push, or a swap-remove found through an index by member id), and
//! copies it first only when one does. A room of n members then fills and
//! empties in O(n); rebuilding the snapshot on every change made that
//! O(n²): 15,000 members cost the server ~3.3 s of CPU to join and ~2.8 s
//! to leave (measured by hand on `ws-tokio-mutex`, pinned, before this
//! change), against 0.67 s and 0.38 s for as many echo connections. After
//! it, by hand: a whole `ws-loadgen room` run of 15,000 members (joins,
//! 2.5 s at 30,000 deliveries/s, leaves) cost `ws-tokio-mutex` and
//! `ws-mpsc-writer` 2.1 s of server CPU each, and took 6.2–6.4 s instead of
//! 8–14 s.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::metrics::Metrics;

/// Longest accepted room name, in characters.
pub const MAX_ROOM_NAME_LEN: usize = 64;

/// A validated room name: 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName(String);

/// Why a room name was refused; the message is sent to the client with the 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// The name has no characters.
    #[error("room name is empty")]
    Empty,
    /// The name is longer than [`MAX_ROOM_NAME_LEN`].
    #[error("room name is longer than {MAX_ROOM_NAME_LEN} characters")]
    TooLong,
    /// The name has a character outside `[A-Za-z0-9_-]`.
    #[error("room name may only contain A-Z, a-z, 0-9, '_' and '-'")]
    InvalidCharacter,
}

impl RoomName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, RoomNameError> {
        if name.is_empty() {
            return Err(RoomNameError::Empty);
        }
        // Checked before the length so a long name of multi-byte characters
        // is reported for what is wrong with it first.
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(RoomNameError::InvalidCharacter);
        }
        if name.len() > MAX_ROOM_NAME_LEN {
            return Err(RoomNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one connection within the registry.
pub type MemberId = u64;

/// One room: a snapshot of its members' writers, shared with broadcasts and
/// changed copy-on-write, and where each member is in it.
#[derive(Debug)]
struct Room<W> {
    /// `ids[i]` is the member whose writer is `members[i]`.
    ids: Vec<MemberId>,
    /// Index in `ids` and `members` of each member.
    index: HashMap<MemberId, usize>,
    members: Arc<Vec<W>>,
}

impl<W: Clone> Room<W> {
    fn new() -> Self {
        Self {
            ids: Vec::new(),
            index: HashMap::new(),
            members: Arc::new(Vec::new()),
        }
    }

    /// Adds member `id`, its writer made from the current members; false
    /// (and no change) if it is in the room already.
    fn add(&mut self, id: MemberId, make: impl FnOnce(&[W]) -> W) -> bool {
        let Entry::Vacant(slot) = self.index.entry(id) else {
            return false;
        };
        let writer = make(&self.members);
        slot.insert(self.ids.len());
        self.ids.push(id);
        // In place unless a broadcast holds the snapshot: then it keeps the
        // one it has and the room gets a copy.
        Arc::make_mut(&mut self.members).push(writer);
        true
    }

    /// Removes member `id`; false if it was not in the room.
    fn remove(&mut self, id: MemberId) -> bool {
        let Some(at) = self.index.remove(&id) else {
            return false;
        };
        self.ids.swap_remove(at);
        Arc::make_mut(&mut self.members).swap_remove(at);
        // The last member moved into the hole.
        if let Some(&moved) = self.ids.get(at) {
            self.index.insert(moved, at);
        }
        true
    }
}

/// All rooms of one server, generic over the writer handle a member is
/// reached through.
#[derive(Debug)]
pub struct Rooms<W> {
    rooms: Mutex<HashMap<RoomName, Arc<RwLock<Room<W>>>>>,
    max_rooms: usize,
    metrics: Metrics,
}

/// A connection's place in a room; leaving the room is dropping it, so a
/// connection that ends in any way (close, reset, panic) is always removed.
#[derive(Debug)]
pub struct Membership<W: Clone> {
    registry: Arc<Rooms<W>>,
    name: RoomName,
    id: MemberId,
    room: Arc<RwLock<Room<W>>>,
}

impl<W: Clone> Rooms<W> {
    /// An empty registry that holds at most `max_rooms` rooms.
    pub fn new(max_rooms: usize, metrics: Metrics) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            max_rooms,
            metrics,
        }
    }

    /// Whether joining `name` now would stay within the room limit.
    pub fn admits(&self, name: &RoomName) -> bool {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.len() < self.max_rooms || rooms.contains_key(name)
    }

    /// Adds `writer` to room `name`, creating the room if needed; `None` when
    /// that would exceed the room limit.
    pub fn join(
        self: &Arc<Self>,
        name: RoomName,
        id: MemberId,
        writer: W,
    ) -> Option<Membership<W>> {
        self.join_with(name, id, |_| writer)
    }

    /// Like [`Rooms::join`], but the member is made from the room's current
    /// members (empty for a new room), under the registry lock: a server
    /// whose members share per-room state creates it for the first member and
    /// copies it for the others.
    pub fn join_with(
        self: &Arc<Self>,
        name: RoomName,
        id: MemberId,
        make: impl FnOnce(&[W]) -> W,
    ) -> Option<Membership<W>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.len() >= self.max_rooms && !rooms.contains_key(&name) {
            return None;
        }
        let room = rooms
            .entry(name.clone())
            .or_insert_with(|| Arc::new(RwLock::new(Room::new())))
            .clone();
        let added = room
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add(id, make);
        if added {
            self.metrics.room_members.inc();
        }
        self.metrics.rooms.set(gauge_value(rooms.len()));
        Some(Membership {
            registry: Arc::clone(self),
            name,
            id,
            room,
        })
    }

    /// Rooms that currently exist.
    pub fn len(&self) -> usize {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no room exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn leave(&self, name: &RoomName, id: MemberId) {
        // The registry lock is held across the member update so a concurrent
        // join cannot add itself to a room that is being removed.
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(room) = rooms.get(name) else { return };
        let now_empty = {
            let mut room = room.write().unwrap_or_else(PoisonError::into_inner);
            if room.remove(id) {
                self.metrics.room_members.dec();
            }
            room.ids.is_empty()
        };
        if now_empty {
            rooms.remove(name);
        }
        self.metrics.rooms.set(gauge_value(rooms.len()));
    }
}

impl<W: Clone> Membership<W> {
    /// The room's members right now, this connection included.
    pub fn members(&self) -> Arc<Vec<W>> {
        let room = self.room.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&room.members)
    }

    /// The room this membership is in.
    pub fn room_name(&self) -> &RoomName {
        &self.name
    }
}

impl<W: Clone> Drop for Membership<W> {
    fn drop(&mut self) {
        self.registry.leave(&self.name, self.id);
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max_rooms: usize) -> Arc<Rooms<u32>> {
        Arc::new(Rooms::new(max_rooms, Metrics::new()))
    }

    fn name(text: &str) -> RoomName {
        RoomName::parse(text).expect("valid test room name")
    }

    /// Joins and leaves in a scrambled order, checked against a plain list
    /// after every step; snapshots taken along the way never change.
    #[test]
    fn members_follow_joins_and_leaves_and_snapshots_stay_as_taken() {
        let rooms = registry(1);
        let mut memberships: Vec<Membership<u32>> = Vec::new();
        let mut model: Vec<u32> = Vec::new();
        let mut snapshots: Vec<(Arc<Vec<u32>>, Vec<u32>)> = Vec::new();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next_id = 0u32;
        for step in 0..2_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let roll = (state >> 33) as usize;
            if memberships.is_empty() || roll % 5 < 3 {
                next_id += 1;
                let joined = rooms
                    .join(name("r"), u64::from(next_id), next_id)
                    .expect("one room");
                memberships.push(joined);
                model.push(next_id);
            } else {
                let at = roll % memberships.len();
                let left = memberships.swap_remove(at);
                model.retain(|&id| u64::from(id) != left.id);
            }
            let Some(any) = memberships.first() else {
                assert!(rooms.is_empty(), "step {step}: the empty room is gone");
                continue;
            };
            let members = any.members();
            let (mut seen, mut expected) = (members.to_vec(), model.clone());
            seen.sort_unstable();
            expected.sort_unstable();
            assert_eq!(seen, expected, "step {step}");
            if step % 97 == 0 {
                snapshots.push((Arc::clone(&members), members.to_vec()));
            }
        }
        for (snapshot, as_taken) in &snapshots {
            assert_eq!(snapshot.as_slice(), as_taken.as_slice());
        }
        drop(memberships);
        assert!(rooms.is_empty());
    }

    #[test]
    fn room_names_are_validated() {
        assert!(RoomName::parse("lobby_1-A").is_ok());
        assert!(RoomName::parse(&"a".repeat(64)).is_ok());
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"a".repeat(65)),
            Err(RoomNameError::TooLong)
        );
        for bad in ["a b", "a/b", "é", "a.b", "a%20"] {
            assert_eq!(
                RoomName::parse(bad),
                Err(RoomNameError::InvalidCharacter),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_room_lives_while_it_has_members() {
        let rooms = registry(10);
        let first = rooms.join(name("r"), 1, 10).expect("under the limit");
        let second = rooms.join(name("r"), 2, 20).expect("under the limit");
        assert_eq!(&*first.members(), &[10, 20]);
        drop(first);
        assert_eq!(&*second.members(), &[20]);
        assert_eq!(rooms.len(), 1);
        drop(second);
        assert!(rooms.is_empty());
        assert_eq!(rooms.metrics.rooms.get(), 0);
    }

    #[test]
    fn the_room_limit_refuses_new_rooms_only() {
        let rooms = registry(1);
        let _a = rooms.join(name("a"), 1, 1).expect("first room");
        assert!(!rooms.admits(&name("b")));
        assert!(rooms.join(name("b"), 2, 2).is_none());
        assert!(rooms.admits(&name("a")));
        assert!(rooms.join(name("a"), 3, 3).is_some());
    }
}
