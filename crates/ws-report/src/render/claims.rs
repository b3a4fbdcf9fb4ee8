//! "Which one to pick when": short claims computed from the data, each with
//! its number and a pointer to the table it comes from. Nothing here names a
//! winner in advance; every name comes out of a comparison.

use std::cmp::Ordering;

use super::data::{self, BenchTable};
use super::scenarios::{self, FROZEN_US};
use super::{Ctx, format, reliability};
use crate::contenders::{self, CONTENDERS};
use crate::manifest::Mode;

/// A relative change of a ratio smaller than this is "no change".
const STEADY: f64 = 0.05;

/// A server, the value it is ranked by, and what else its claim quotes.
type Ranked<T> = (String, f64, T);

/// Best and worst of `(name, value)` pairs; `higher_is_better` picks the direction.
fn best_worst<T: Clone>(
    mut items: Vec<Ranked<T>>,
    higher_is_better: bool,
) -> Option<(Ranked<T>, Ranked<T>)> {
    items.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        let o = if higher_is_better { o.reverse() } else { o };
        o.then_with(|| contenders::order_key(&a.0).cmp(&contenders::order_key(&b.0)))
    });
    let best = items.first()?.clone();
    let worst = items.last()?.clone();
    Some((best, worst))
}

fn strategies() -> impl Iterator<Item = &'static str> {
    CONTENDERS.iter().filter(|c| !c.reference).map(|c| c.name)
}

/// Geometric-mean ratio of each strategy in a group and mode.
fn group_ratios(tables: &[BenchTable], mode: Mode) -> Vec<(String, f64, usize)> {
    strategies()
        .filter_map(|s| data::geomean_ratio(tables, mode, s).map(|(r, n)| (s.to_owned(), r, n)))
        .collect()
}

fn group_claim(
    ctx: &Ctx<'_>,
    group: &str,
    when: &str,
    section: &str,
    anchor: &str,
) -> Option<String> {
    let tables = data::bench_tables(&ctx.data.benches, group);
    let (best, worst) = best_worst(group_ratios(&tables, Mode::Pinned), true)?;
    let reference = data::reference_of(group);
    let mut s = format!(
        "- **{when}**: `{}` reached {} of `{reference}`'s throughput (geometric mean over {} pinned condition(s))",
        best.0,
        format::ratio(best.1),
        best.2
    );
    if worst.0 != best.0 {
        s.push_str(&format!(", `{}` {}", worst.0, format::ratio(worst.1)));
    }
    s.push_str(&format!(". See [{section}](#{anchor}).\n"));
    Some(s)
}

fn unpinned_claim(ctx: &Ctx<'_>) -> Option<String> {
    let tables = data::bench_tables(&ctx.data.benches, "echo");
    let pinned = group_ratios(&tables, Mode::Pinned);
    let unpinned = group_ratios(&tables, Mode::Unpinned);
    let changes: Vec<(String, f64, (f64, f64))> = pinned
        .iter()
        .filter_map(|(name, p, _)| {
            let (_, u, _) = unpinned.iter().find(|(n, _, _)| n == name)?;
            Some((name.clone(), u / p, (*p, *u)))
        })
        .collect();
    let (kept, lost) = best_worst(changes, true)?;
    if (lost.1 - 1.0).abs() < STEADY {
        return Some(format!(
            "- **When the server shares its cores with the load (unpinned)**: no strategy's echo ratio moved by more than {} between pinned and unpinned (the largest change: `{}`, {} to {}). See [Echo throughput](#echo-throughput).\n",
            format::percent(STEADY),
            lost.0,
            format::ratio(lost.2.0),
            format::ratio(lost.2.1)
        ));
    }
    let mut s = format!(
        "- **When the server shares its cores with the load (unpinned)**: `{}` lost the most against the ceiling, from {} pinned to {} unpinned",
        lost.0,
        format::ratio(lost.2.0),
        format::ratio(lost.2.1)
    );
    if kept.0 != lost.0 {
        s.push_str(&format!(
            "; `{}` held up best, {} to {}",
            kept.0,
            format::ratio(kept.2.0),
            format::ratio(kept.2.1)
        ));
    }
    s.push_str(". See [Echo throughput](#echo-throughput).\n");
    Some(s)
}

fn slow_claim(ctx: &Ctx<'_>) -> Option<String> {
    // Ranked by the healthy members' p99 (undelivered counted at the drain
    // bound): in an open-loop flood a frozen room delivers its backlog late
    // rather than never, so latency shows the harm where the delivered share may not.
    let items: Vec<(String, f64, (f64, usize))> = scenarios::slow_case(&ctx.data.slow, "stalled")
        .into_iter()
        .filter_map(|r| {
            let res = r.result.as_ref()?;
            Some((
                r.record.server.clone(),
                res.healthy.latency.with_undelivered.p99_us as f64,
                (
                    res.healthy.delivered_fraction_mean,
                    scenarios::frozen_seconds(res),
                ),
            ))
        })
        .collect();
    let (best, worst) = best_worst(items, false)?;
    let describe = |(name, p99, (delivered, frozen)): &(String, f64, (f64, usize))| {
        format!(
            "`{name}`'s healthy members got {} of the messages with p99 {} and {frozen} second(s) with a delivery over {}",
            format::percent(*delivered),
            format::micros(*p99 as u64),
            format::micros(FROZEN_US)
        )
    };
    let mut s = format!(
        "- **When a client can stop reading**: with one stalled member in the room, {}",
        describe(&best)
    );
    if worst.0 != best.0 {
        s.push_str(&format!(
            "; {}",
            describe(&worst).replacen("healthy members got", "got", 1)
        ));
    }
    s.push_str(". See [Slow consumer isolation](#slow-consumer-isolation).\n");
    Some(s)
}

fn memory_claim(ctx: &Ctx<'_>) -> Option<String> {
    let items: Vec<(String, f64, u64)> = ctx
        .data
        .memory
        .iter()
        .filter_map(|r| {
            let m = r.result.as_ref()?;
            let per = m.server.as_ref()?.rss_per_connection_bytes?;
            Some((r.record.server.clone(), per, m.established))
        })
        .collect();
    let (best, worst) = best_worst(items, false)?;
    let mut s = format!(
        "- **Many idle connections**: `{}` used the least memory, {} per connection at {} connections",
        best.0,
        format::bytes(best.1),
        format::count(best.2 as f64)
    );
    if worst.0 != best.0 {
        s.push_str(&format!(
            "; `{}` the most, {}",
            worst.0,
            format::bytes(worst.1)
        ));
    }
    s.push_str(". See [Memory](#memory).\n");
    Some(s)
}

fn latency_claim(ctx: &Ctx<'_>) -> Option<String> {
    let rate = *scenarios::rates(&ctx.data.latency).last()?;
    let items: Vec<(String, f64, ())> =
        scenarios::latency_runs(&ctx.data.latency, Mode::Pinned, rate)
            .into_iter()
            .filter(|r| !contenders::is_reference(&r.record.server))
            .filter_map(|r| {
                let e = r.result.as_ref()?;
                Some((
                    r.record.server.clone(),
                    e.latency.with_undelivered.p99_us as f64,
                    (),
                ))
            })
            .collect();
    let (best, worst) = best_worst(items, false)?;
    let mut s = format!(
        "- **Tail latency under steady load**: at {} offered (pinned), `{}` had the lowest p99 of the strategies, {}",
        format::rate(rate),
        best.0,
        format::micros(best.1 as u64)
    );
    if worst.0 != best.0 && worst.1.partial_cmp(&best.1) != Some(Ordering::Equal) {
        s.push_str(&format!(
            "; `{}` the highest, {}",
            worst.0,
            format::micros(worst.1 as u64)
        ));
    }
    s.push_str(". See [Latency](#latency).\n");
    Some(s)
}

fn reliability_claim(ctx: &Ctx<'_>) -> Option<String> {
    // Ranked by peak RSS with stalled members: what a server holds for
    // clients that stopped reading is what decides whether it survives them.
    let items: Vec<Ranked<(usize, Option<f64>)>> = ctx
        .data
        .flood
        .iter()
        .filter(|r| r.record.case == "flood-stalled")
        .filter_map(|r| {
            let f = r.result.as_ref()?;
            let peak = reliability::peak_rss(f)?;
            let rel = reliability::find(&ctx.data.flood, &r.record.server, "flood-baseline")
                .and_then(|b| b.result.as_ref())
                .and_then(reliability::peak_rss)
                .filter(|b| *b > 0)
                .map(|b| peak as f64 / b as f64);
            Some((
                r.record.server.clone(),
                peak as f64,
                (f.config.stalled, rel),
            ))
        })
        .collect();
    let (best, worst) = best_worst(items, false)?;
    if worst.0 == best.0 {
        return None;
    }
    let describe = |(name, peak, (_, rel)): &Ranked<(usize, Option<f64>)>| {
        let rel = rel
            .map(|r| format!(" ({} its no-stall peak)", format::ratio(r)))
            .unwrap_or_default();
        format!("`{name}` {}{rel}", format::bytes(*peak))
    };
    Some(format!(
        "- **When clients can stop reading under a heavy flood**: with {} stalled members, the highest peak RSS was {}, the lowest {}. See [Reliability](#reliability).\n",
        worst.2.0,
        describe(&worst),
        describe(&best)
    ))
}

/// `ws-std-mutex` against `ws-tokio-mutex`: the same lock-per-sink design,
/// so their ratio is what keeping a `std::sync::Mutex` safe costs (issue 5;
/// the hazards themselves are in `crates/ws-std-mutex/MISUSE.md`).
fn std_mutex_cost(ctx: &Ctx<'_>) -> String {
    const STD: &str = "ws-std-mutex";
    const TOKIO: &str = "ws-tokio-mutex";
    let mut lines = Vec::new();
    for (group, section, anchor) in [
        ("echo", "Echo throughput", "echo-throughput"),
        ("broadcast", "Broadcast fan-out", "broadcast-fan-out"),
        ("contention", "Contention", "contention"),
    ] {
        let tables = data::bench_tables(&ctx.data.benches, group);
        let per_mode: Vec<String> = [Mode::Pinned, Mode::Unpinned]
            .into_iter()
            .filter_map(|mode| {
                let (std, n) = data::geomean_ratio(&tables, mode, STD)?;
                let (tokio, _) = data::geomean_ratio(&tables, mode, TOKIO)?;
                Some(format!(
                    "{} {} (over {n} condition(s))",
                    format::ratio(std / tokio),
                    mode.name()
                ))
            })
            .collect();
        if !per_mode.is_empty() {
            lines.push(format!(
                "- [{section}](#{anchor}): `{STD}` reached {} of `{TOKIO}`'s throughput.\n",
                per_mode.join(", ")
            ));
        }
    }
    let stalled = scenarios::slow_case(&ctx.data.slow, "stalled");
    let p99 = |name: &str| {
        stalled
            .iter()
            .find(|r| r.record.server == name)
            .and_then(|r| r.result.as_ref())
            .map(|res| res.healthy.latency.with_undelivered.p99_us)
    };
    if let (Some(std), Some(tokio)) = (p99(STD), p99(TOKIO)) {
        lines.push(format!(
            "- [Slow consumer isolation](#slow-consumer-isolation): with a stalled member, the healthy members' p99 was {} with `{STD}` and {} with `{TOKIO}`: both hold every sender until the send timeout; `{STD}` also ties up a blocking-pool thread per waiting writer meanwhile.\n",
            format::micros(std),
            format::micros(tokio)
        ));
    }
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "### What `ws-std-mutex`'s safety costs\n\n\
         `ws-std-mutex` holds its `std::sync::Mutex` guard only inside a synchronous \
         attempt that does not wait, or on a blocking-pool thread; every send that has \
         to wait (lock taken, socket full) hops to that pool and back. Read against \
         `ws-tokio-mutex`, the same design with an async lock, that is the price of the \
         safety; what the naive form does instead is in \
         [MISUSE.md](crates/ws-std-mutex/MISUSE.md).\n\n",
    );
    for line in lines {
        out.push_str(&line);
    }
    out.push('\n');
    out
}

/// The section.
pub fn section(ctx: &Ctx<'_>) -> String {
    let mut out = String::from("## Which one to pick when\n\n");
    let claims: Vec<String> = [
        group_claim(
            ctx,
            "echo",
            "Request/reply on dedicated cores",
            "Echo throughput",
            "echo-throughput",
        ),
        unpinned_claim(ctx),
        group_claim(
            ctx,
            "broadcast",
            "Fan-out to rooms",
            "Broadcast fan-out",
            "broadcast-fan-out",
        ),
        group_claim(
            ctx,
            "contention",
            "Many writers per socket",
            "Contention",
            "contention",
        ),
        slow_claim(ctx),
        latency_claim(ctx),
        memory_claim(ctx),
        reliability_claim(ctx),
    ]
    .into_iter()
    .flatten()
    .collect();
    if claims.is_empty() {
        out.push_str("No results to base a recommendation on.\n");
    } else {
        out.push_str(
            "Each line is computed from the tables above (ratios read as in *Method*).\n\n",
        );
        for c in claims {
            out.push_str(&c);
        }
    }
    let cost = std_mutex_cost(ctx);
    if !cost.is_empty() {
        out.push('\n');
        out.push_str(&cost);
    }
    out
}
