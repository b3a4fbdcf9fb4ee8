//! Whether a read had to wait: what lets a reader skip its look-ahead for a
//! request/reply client without losing bursts.
//!
//! Under `--flush batched` a reader looks, without waiting, whether another
//! message is already readable before it ends a burst. When nothing is, that
//! look costs a futile poll of the socket, and tungstenite prepares a read
//! before it learns there is nothing: it zero-fills the free part of its read
//! buffer (up to `--read-buffer-size`, 128 KiB by default) on every poll that
//! has to go to the socket. A request/reply client makes every message a
//! burst of one, so it would pay that on every message, on top of the futile
//! poll every reader makes before it goes to sleep. In the committed run at
//! 7a9e617, `ws-std-mutex` at 64 connections × 1 in flight reached 0.88×–0.93×
//! of its own `--flush each` rate under `--flush batched` for that reason
//! (found with `perf`: the zero-fill's share of the server's samples rose
//! with the look-ahead).
//!
//! A message the reader had to wait for, after a burst of one, is most
//! likely another lone request: it is written and flushed at once, and the
//! reader goes straight back to waiting, which is the poll that tells
//! whether something follows. A message that is there at the first poll is
//! part of a burst and gets the look-ahead again.

use std::future::poll_fn;

use futures_util::{Stream, StreamExt};

/// `stream.next()`, noting in `waited` whether the first poll found nothing.
/// Reset to `false` when the future is made.
pub fn next_noting_wait<'a, S: Stream + Unpin>(
    stream: &'a mut S,
    waited: &'a mut bool,
) -> impl Future<Output = Option<S::Item>> + 'a {
    *waited = false;
    poll_fn(move |cx| {
        let next = stream.poll_next_unpin(cx);
        if next.is_pending() {
            *waited = true;
        }
        next
    })
}

#[cfg(test)]
mod tests {
    use std::task::Poll;
    use std::time::Duration;

    use futures_util::stream;

    use super::*;

    #[tokio::test]
    async fn a_ready_item_did_not_wait() {
        let mut items = stream::iter([1, 2]);
        let mut waited = true;
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            next_noting_wait(&mut items, &mut waited),
        )
        .await
        .expect("ready at once");
        assert_eq!(next, Some(1));
        assert!(!waited);
    }

    #[tokio::test]
    async fn an_item_that_arrives_later_waited() {
        // Nothing at the first poll; the item is there when woken.
        let mut polls = 0;
        let mut later = stream::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(Some(7))
            }
        });
        let mut waited = false;
        let next = next_noting_wait(&mut later, &mut waited);
        let item = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the item arrives");
        assert_eq!(item, Some(7));
        assert!(waited);
    }
}
