//! The room registry: which connections are in which room.
//!
//! Joining and leaving are rare; reading a room's members happens for every
//! broadcast message. So membership changes rebuild an immutable snapshot
//! under a lock, and a broadcast only clones an `Arc` to it.

use std::collections::HashMap;
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

/// One room: an immutable snapshot of its members' writers, replaced on every
/// join and leave.
#[derive(Debug)]
struct Room<W> {
    ids: Vec<MemberId>,
    members: Arc<[W]>,
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
            .or_insert_with(|| {
                Arc::new(RwLock::new(Room {
                    ids: Vec::new(),
                    members: Arc::from(Vec::new()),
                }))
            })
            .clone();
        {
            let mut room = room.write().unwrap_or_else(PoisonError::into_inner);
            let mut members = room.members.to_vec();
            members.push(make(&members));
            room.ids.push(id);
            room.members = Arc::from(members);
        }
        self.metrics.room_members.inc();
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
            if let Some(index) = room.ids.iter().position(|&member| member == id) {
                self.metrics.room_members.dec();
                room.ids.swap_remove(index);
                let mut members = room.members.to_vec();
                members.swap_remove(index);
                room.members = Arc::from(members);
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
    pub fn members(&self) -> Arc<[W]> {
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
