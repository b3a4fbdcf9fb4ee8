//! The servers compared, in the one order every table, plot and run uses.

/// One server of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contender {
    /// Package and binary name.
    pub name: &'static str,
    /// Serves `/ws/room/{room}` (the unsplit reference does not).
    pub rooms: bool,
    /// A reference server rather than one of the three strategies.
    pub reference: bool,
}

/// Every contender, strategies first, references last.
pub const CONTENDERS: [Contender; 5] = [
    Contender {
        name: "ws-tokio-mutex",
        rooms: true,
        reference: false,
    },
    Contender {
        name: "ws-std-mutex",
        rooms: true,
        reference: false,
    },
    Contender {
        name: "ws-mpsc-writer",
        rooms: true,
        reference: false,
    },
    Contender {
        name: "ws-ref-broadcast",
        rooms: true,
        reference: true,
    },
    Contender {
        name: "ws-ref-unsplit",
        rooms: false,
        reference: true,
    },
];

/// The reference of echo results: nothing shared at all, the ceiling.
pub const ECHO_REFERENCE: &str = "ws-ref-unsplit";
/// The reference of room results: `tokio::sync::broadcast`, what users would otherwise pick.
pub const ROOM_REFERENCE: &str = "ws-ref-broadcast";

/// Sort key for a server name: known contenders in [`CONTENDERS`] order, others after, by name.
#[must_use]
pub fn order_key(name: &str) -> (usize, String) {
    let index = CONTENDERS
        .iter()
        .position(|c| c.name == name)
        .unwrap_or(CONTENDERS.len());
    (index, name.to_owned())
}

/// Whether `name` is one of the reference servers.
#[must_use]
pub fn is_reference(name: &str) -> bool {
    CONTENDERS.iter().any(|c| c.name == name && c.reference)
}
