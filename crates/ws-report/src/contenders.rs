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

/// The flush policies (`--flush`), naive first: the order of every table.
pub const FLUSH_MODES: [&str; 2] = ["each", "batched"];
/// The flush policy every strategy is compared in: each at its best.
pub const BEST_FLUSH: &str = "batched";

/// A benchmark or run name split into server and flush policy:
/// `ws-tokio-mutex/each` is (`ws-tokio-mutex`, `Some("each")`); a name
/// without a known policy (results from before `--flush`) has none.
#[must_use]
pub fn split_flush(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('/') {
        Some((server, flush)) if FLUSH_MODES.contains(&flush) => (server, Some(flush)),
        _ => (name, None),
    }
}

/// Whether `name` is `server` at its best: `server/batched`, or plain
/// `server` from results that predate the flag (then the default).
#[must_use]
pub fn is_best_form(name: &str, server: &str) -> bool {
    matches!(split_flush(name), (s, None | Some(BEST_FLUSH)) if s == server)
}

/// Sort key for a server name: known contenders in [`CONTENDERS`] order, others after, by name;
/// within a server, its flush policies in [`FLUSH_MODES`] order.
#[must_use]
pub fn order_key(name: &str) -> (usize, usize, String) {
    let (server, flush) = split_flush(name);
    let index = CONTENDERS
        .iter()
        .position(|c| c.name == server)
        .unwrap_or(CONTENDERS.len());
    let flush = flush
        .and_then(|f| FLUSH_MODES.iter().position(|m| *m == f))
        .unwrap_or(FLUSH_MODES.len());
    (index, flush, name.to_owned())
}

/// Whether `name` is one of the reference servers.
#[must_use]
pub fn is_reference(name: &str) -> bool {
    CONTENDERS.iter().any(|c| c.name == name && c.reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_suffixes_split_and_sort_naive_first() {
        assert_eq!(
            split_flush("ws-std-mutex/each"),
            ("ws-std-mutex", Some("each"))
        );
        assert_eq!(split_flush("ws-std-mutex"), ("ws-std-mutex", None));
        assert_eq!(split_flush("a/b"), ("a/b", None));
        assert!(is_best_form("ws-std-mutex/batched", "ws-std-mutex"));
        assert!(is_best_form("ws-std-mutex", "ws-std-mutex"));
        assert!(!is_best_form("ws-std-mutex/each", "ws-std-mutex"));
        let mut names = [
            "ws-ref-unsplit/batched",
            "ws-std-mutex/batched",
            "ws-tokio-mutex/batched",
            "ws-std-mutex/each",
        ];
        names.sort_by_key(|n| order_key(n));
        assert_eq!(
            names,
            [
                "ws-tokio-mutex/batched",
                "ws-std-mutex/each",
                "ws-std-mutex/batched",
                "ws-ref-unsplit/batched"
            ]
        );
    }
}
