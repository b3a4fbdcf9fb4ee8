//! "The findings, in sentences": short claims computed from the data, each with
//! its number and a pointer to the table it comes from. Nothing here names a
//! winner in advance; every name comes out of a comparison, and values within
//! [`TIE`] of each other are reported as about the same, not ranked.

use super::data::{self, BenchTable};
use super::scenarios::{self, FROZEN_US};
use super::{Ctx, flush, format, load_curve, reliability};
use crate::contenders::{self, BEST_FLUSH, CONTENDERS};
use crate::manifest::Mode;

/// A relative change of a ratio smaller than this is "no change".
const STEADY: f64 = 0.05;

/// Two values within this fraction of the larger are "about the same": no
/// claim ranks them. One margin for every claim, because most ranked values
/// (geometric means of ratios, one run's p99 or RSS) carry no interval that
/// could say how far apart is apart; the claims' text states it.
const TIE: f64 = 0.10;

/// A server, the value it is ranked by, and what else its claim quotes.
type Ranked<T> = (String, f64, T);

/// Whether `a` and `b` are within [`TIE`] of the larger of the two.
fn tied(a: f64, b: f64) -> bool {
    (a - b).abs() <= TIE * a.abs().max(b.abs())
}

/// Contenders split by the tie rule, each part in rank order. Contenders
/// tied with neither end are left out, as the middle always was.
#[derive(Debug)]
struct Ranking<T> {
    /// The best and every contender within [`TIE`] of it.
    leaders: Vec<Ranked<T>>,
    /// The worst and every contender within [`TIE`] of it, leaders excepted:
    /// empty when everyone is within [`TIE`] of the best.
    trailers: Vec<Ranked<T>>,
}

impl<T> Ranking<T> {
    /// Several contenders, all about the same as the best: nothing to rank.
    fn all_tied(&self) -> bool {
        self.trailers.is_empty() && self.leaders.len() > 1
    }
}

/// Rank `(name, value)` pairs, `higher_is_better` picking the direction;
/// equal values keep the contenders' order.
fn rank<T>(mut items: Vec<Ranked<T>>, higher_is_better: bool) -> Option<Ranking<T>> {
    items.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        let o = if higher_is_better { o.reverse() } else { o };
        o.then_with(|| contenders::order_key(&a.0).cmp(&contenders::order_key(&b.0)))
    });
    let best = items.first()?.1;
    let worst = items.last()?.1;
    let (leaders, rest): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| tied(i.1, best));
    let trailers = rest.into_iter().filter(|i| tied(i.1, worst)).collect();
    Some(Ranking { leaders, trailers })
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn join(parts: Vec<String>) -> String {
    match parts.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A group of contenders, each as `describe` words it, and when there are
/// several, the tie that put them together.
fn cohort<T>(items: &[Ranked<T>], what: &str, describe: impl Fn(&Ranked<T>) -> String) -> String {
    let mut s = join(items.iter().map(describe).collect());
    if items.len() > 1 {
        s.push_str(&format!(
            ", about the same {what} (within {} of each other)",
            format::percent(TIE)
        ));
    }
    s
}

/// "about the same … (within 10.0% of each other)".
fn all_tied_words(what: &str) -> String {
    format!(
        "about the same {what} (within {} of each other)",
        format::percent(TIE)
    )
}

/// How a claim words its ranking: the lead-in when everyone ties, and the
/// labels of the best and worst cohorts.
struct Words<'a> {
    /// Before [`all_tied_words`] when every contender is within [`TIE`].
    all: &'a str,
    /// What is "about the same" when everyone ties.
    all_what: &'a str,
    /// Before the leaders.
    best: &'a str,
    /// Before the trailers.
    worst: &'a str,
    /// What is "about the same" within a cohort.
    what: &'a str,
}

/// A ranking in words, best first: "{best} …; {worst} …", or "{all}
/// about the same …: …" when every contender ties with the best. `{verb}`
/// in the labels becomes "was" or "were" to agree with the cohort.
fn ranking_words<T>(
    r: &Ranking<T>,
    words: &Words<'_>,
    describe: impl Fn(&Ranked<T>) -> String,
) -> String {
    if r.all_tied() {
        return format!(
            "{}{}: {}",
            words.all,
            all_tied_words(words.all_what),
            join(r.leaders.iter().map(&describe).collect())
        );
    }
    let label = |l: &str, n: usize| l.replace("{verb}", if n > 1 { "were" } else { "was" });
    let mut s = format!(
        "{} {}",
        label(words.best, r.leaders.len()),
        cohort(&r.leaders, words.what, &describe)
    );
    if !r.trailers.is_empty() {
        s.push_str(&format!(
            "; {} {}",
            label(words.worst, r.trailers.len()),
            cohort(&r.trailers, words.what, &describe)
        ));
    }
    s
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
    let r = rank(group_ratios(&tables, Mode::Pinned), true)?;
    let reference = data::reference_of(group);
    let over = format!(
        "geometric mean over {} pinned condition(s){}",
        r.leaders.first()?.2,
        match data::group_pass_count(&ctx.data.benches, Mode::Pinned, group) {
            n if n > 1 => format!(", median of {n} Criterion passes"),
            _ => String::new(),
        }
    );
    // The naive form beside the best, when the group measured it.
    let naive = |name: &str| {
        data::geomean_ratio(&tables, Mode::Pinned, &format!("{name}/each"))
            .map(|(r, _)| format!(" ({} flushing every message)", format::ratio(r)))
            .unwrap_or_default()
    };
    let ratio = |(name, ratio, _): &Ranked<usize>| {
        format!("`{name}` at {}{}", format::ratio(*ratio), naive(name))
    };
    let words = Words {
        all: "",
        all_what: "throughput for every strategy",
        best: "the fastest {verb}",
        worst: "the slowest",
        what: "throughput",
    };
    Some(format!(
        "- **{when}**: against `{reference}`'s throughput ({over}), {}. See [{section}](#{anchor}).\n",
        ranking_words(&r, &words, ratio)
    ))
}

/// The repeated echo runs: strategies compared within `batched`, the naive
/// (`each`) medians beside, one sentence per in-flight count. Only ranges
/// that do not overlap make a difference. The figure is the one the
/// verdict's echo rows decide on: echoes per server core-second where every
/// in-flight count has them, else throughput.
fn throughput_claim(ctx: &Ctx<'_>) -> Option<String> {
    let t = flush::Throughput::new(&ctx.data.throughput);
    let inflights = t.inflights();
    let figure = if !inflights.is_empty()
        && inflights
            .iter()
            .all(|i| t.deciding_figure(*i) == flush::Figure::PerCore)
    {
        flush::Figure::PerCore
    } else {
        flush::Figure::Throughput
    };
    let parts: Vec<String> = inflights
        .into_iter()
        .filter_map(|inflight| {
            let items: Vec<(String, flush::Spread)> = strategies()
                .filter_map(|s| Some((s.to_owned(), t.ratio(figure, s, BEST_FLUSH, inflight)?)))
                .collect();
            let naive: Vec<f64> = strategies()
                .filter_map(|s| Some(t.ratio(figure, s, "each", inflight)?.median))
                .collect();
            echo_sentence(inflight, items, &naive)
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let what = match figure {
        flush::Figure::Throughput => "throughput against",
        flush::Figure::PerCore => {
            "echoes per server core-second (higher: an echo costs the server less) against those of"
        }
    };
    Some(format!(
        "- **Echo, each strategy at its best (`--flush batched`), repeated runs**: {what} `{}`, \
         median (min–max) over the repeats. {} See [Flush policy or strategy?](#flush-policy-or-strategy).\n",
        contenders::ECHO_REFERENCE,
        parts.join(" ")
    ))
}

/// "With 64 in flight, `a` (…) and `b` (…) led; `c` (…) was behind, its
/// range apart from theirs. Flushing every message on its own (naive, …), they reached
/// 0.07×–0.09×." Leaders are the best and every strategy whose range
/// overlaps the best's.
fn echo_sentence(
    inflight: u64,
    mut items: Vec<(String, flush::Spread)>,
    naive: &[f64],
) -> Option<String> {
    items.sort_by(|a, b| {
        b.1.median
            .total_cmp(&a.1.median)
            .then_with(|| contenders::order_key(&a.0).cmp(&contenders::order_key(&b.0)))
    });
    let best = items.first()?.1;
    let (leaders, behind): (Vec<_>, Vec<_>) = items.iter().partition(|(_, s)| s.overlaps(&best));
    let named = |l: &[&(String, flush::Spread)]| {
        join(
            l.iter()
                .map(|(n, s)| format!("`{n}` ({})", flush::ratio_spread(s)))
                .collect(),
        )
    };
    let mut out = if behind.is_empty() {
        format!(
            "With {inflight} in flight the strategies were about the same, their ranges overlapping: {}.",
            named(&leaders)
        )
    } else {
        let (verb, range) = if behind.len() == 1 {
            ("was", "its range")
        } else {
            ("were", "their ranges")
        };
        format!(
            "With {inflight} in flight {} led; {} {verb} behind, {range} apart from the best's.",
            named(&leaders),
            named(&behind)
        )
    };
    let lo = naive.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = naive.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() {
        out.push_str(&format!(
            " Flushing every message on its own (naive, `--flush each`), they reached {}–{}.",
            format::ratio(lo),
            format::ratio(hi)
        ));
    }
    Some(out)
}

/// `from 0.95× pinned to 1.13× unpinned`, with the verb the change earns.
fn moved(p: f64, u: f64) -> String {
    let verb = if (u / p - 1.0).abs() < STEADY {
        "stayed near"
    } else if u > p {
        "rose"
    } else {
        "fell"
    };
    if verb == "stayed near" {
        format!(
            "{verb} {} ({} unpinned)",
            format::ratio(p),
            format::ratio(u)
        )
    } else {
        format!("{verb} from {} to {}", format::ratio(p), format::ratio(u))
    }
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
    // "Steady" needs every change small, gains included, not just the worst loss.
    let largest = changes
        .iter()
        .max_by(|a, b| (a.1 - 1.0).abs().total_cmp(&(b.1 - 1.0).abs()))
        .cloned()?;
    let r = rank(changes, true)?;
    let lead = "- **When the server shares its cores with the load (unpinned)**: ";
    let see = ". See [Echo throughput](#echo-throughput).\n";
    if (largest.1 - 1.0).abs() < STEADY {
        return Some(format!(
            "{lead}the strategies' echo throughput against `{}` barely moved: none changed by more than {} (the most, `{}`, {}){see}",
            contenders::ECHO_REFERENCE,
            format::percent(STEADY),
            largest.0,
            moved(largest.2.0, largest.2.1)
        ));
    }
    let change = |(name, _, (p, u)): &Ranked<(f64, f64)>| format!("`{name}` {}", moved(*p, *u));
    let sentence = if r.all_tied() || r.trailers.is_empty() {
        format!(
            "against `{}`, {}: sharing cores moved every strategy alike (within {} of each other)",
            contenders::ECHO_REFERENCE,
            join(r.leaders.iter().map(change).collect()),
            format::percent(TIE)
        )
    } else {
        format!(
            "against `{}`, {}, while {}",
            contenders::ECHO_REFERENCE,
            join(r.leaders.iter().map(change).collect()),
            join(r.trailers.iter().map(change).collect())
        )
    };
    Some(format!("{lead}{sentence}{see}"))
}

/// `a ws-tokio-mutex or ws-std-mutex room`.
fn rooms_of(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => format!("a {last} room"),
        Some((last, rest)) => format!("a {} or {last} room", rest.join(", ")),
    }
}

/// One stalled member, said the way a person would: which rooms froze and
/// for how long, and which did not notice. A room "did not notice" when no
/// second of its runs had a healthy delivery over [`FROZEN_US`] and its
/// healthy p99 stayed within [`TIE`] of, or under, twice the baseline's in
/// every repeat (the ratio taken within each repeat). Repeated figures are
/// median (min–max); a p99 whose range overlaps the baseline's is about
/// the same as without the stalled member.
fn slow_claim(ctx: &Ctx<'_>) -> Option<String> {
    struct Room<'a> {
        name: &'a str,
        p99: flush::Spread,
        max: f64,
        frozen: flush::Spread,
        seconds: usize,
        baseline_p99: Option<flush::Spread>,
        isolation: Option<flush::Spread>,
    }
    let baseline = scenarios::slow_case(&ctx.data.slow, "baseline");
    let stalled = scenarios::slow_case(&ctx.data.slow, "stalled");
    let rooms: Vec<Room<'_>> = scenarios::servers(&stalled)
        .into_iter()
        .filter_map(|name| {
            let rs = scenarios::results_of(&stalled, name);
            Some(Room {
                name,
                p99: scenarios::spread_by(&rs, scenarios::healthy_p99)?,
                max: rs
                    .iter()
                    .map(|(_, r)| r.healthy.latency.with_undelivered.max_us as f64)
                    .fold(0.0, f64::max),
                frozen: scenarios::spread_by(&rs, |r| scenarios::frozen_seconds(r) as f64)?,
                seconds: rs.iter().map(|(_, r)| r.timeline.len()).max().unwrap_or(0),
                baseline_p99: scenarios::spread_by(
                    &scenarios::results_of(&baseline, name),
                    scenarios::healthy_p99,
                ),
                isolation: scenarios::isolation(&stalled, &baseline, name),
            })
        })
        .collect();
    if rooms.is_empty() {
        return None;
    }
    let micros = |s: &flush::Spread| load_curve::micros_spread(Some(*s));
    // A room that froze in any repeat froze.
    let (froze, calm): (Vec<&Room<'_>>, Vec<&Room<'_>>) =
        rooms.iter().partition(|r| r.frozen.max > 0.0);
    let unnoticed = |r: &Room<'_>| r.isolation.is_some_and(|i| i.max <= 2.0_f64.max(1.0 + TIE));
    let mut parts = Vec::new();
    if !froze.is_empty() {
        let worst = froze.iter().map(|r| r.max).fold(0.0, f64::max);
        let detail = froze
            .iter()
            .map(|r| {
                format!(
                    "`{}`: p99 {}, {} of {} seconds frozen",
                    r.name,
                    micros(&r.p99),
                    scenarios::count_spread(&r.frozen),
                    r.seconds
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        parts.push(format!(
            "every healthy member of {} waited up to {} ({detail})",
            rooms_of(&froze.iter().map(|r| r.name).collect::<Vec<_>>()),
            format::micros(worst.round() as u64)
        ));
    }
    if !calm.is_empty() {
        let names = join(calm.iter().map(|r| format!("`{}`", r.name)).collect());
        let detail = calm
            .iter()
            .map(|r| {
                let base = match (&r.baseline_p99, &r.isolation) {
                    (Some(b), Some(i)) if b.n > 1 && r.p99.n > 1 => {
                        let same = if b.overlaps(&r.p99) {
                            "about the same as"
                        } else {
                            "against"
                        };
                        format!(
                            ", {same} {} without it ({} within each repeat)",
                            micros(b),
                            flush::ratio_spread(i)
                        )
                    }
                    (Some(b), _) => format!(", {} without it", micros(b)),
                    (None, _) => String::new(),
                };
                format!("`{}`: p99 {}{base}", r.name, micros(&r.p99))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let verb = if calm.iter().all(|r| unnoticed(r)) {
            "the room did not notice".to_owned()
        } else {
            format!(
                "no healthy delivery took over {}",
                format::micros(FROZEN_US)
            )
        };
        parts.push(format!("with {names} {verb} ({detail})"));
    }
    Some(format!(
        "- **When a client can stop reading**: with one client that stops reading, {}. See [Slow consumer isolation](#slow-consumer-isolation).\n",
        parts.join("; ")
    ))
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
    let r = rank(items, false)?;
    if r.leaders.len() < 2 && r.trailers.is_empty() {
        return None;
    }
    let describe = |(name, peak, (_, rel)): &Ranked<(usize, Option<f64>)>| {
        let rel = rel
            .map(|r| format!(" ({} its no-stall peak)", format::ratio(r)))
            .unwrap_or_default();
        format!("`{name}` {}{rel}", format::bytes(*peak))
    };
    let stalled = r.leaders.first()?.2.0;
    let said = if r.all_tied() {
        format!(
            "every server had {}: {}",
            all_tied_words("peak RSS"),
            join(r.leaders.iter().map(describe).collect())
        )
    } else {
        format!(
            "the highest peak RSS was {}; the lowest {}",
            cohort(&r.trailers, "peak RSS", describe),
            cohort(&r.leaders, "peak RSS", describe)
        )
    };
    Some(format!(
        "- **When clients can stop reading under a heavy flood**: with {stalled} stalled members, {said}. See [Reliability](#reliability).\n"
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
        scenarios::spread_by(
            &scenarios::results_of(&stalled, name),
            scenarios::healthy_p99,
        )
    };
    if let (Some(std), Some(tokio)) = (p99(STD), p99(TOKIO)) {
        lines.push(format!(
            "- [Slow consumer isolation](#slow-consumer-isolation): with a stalled member, the healthy members' p99 was {} with `{STD}` and {} with `{TOKIO}`: both hold every sender until the send timeout; `{STD}` also ties up a blocking-pool thread per waiting writer meanwhile.\n",
            load_curve::micros_spread(Some(std)),
            load_curve::micros_spread(Some(tokio))
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
    let mut out = String::from("## The findings, in sentences\n\n");
    let claims: Vec<String> = [
        throughput_claim(ctx),
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
        // The verdict's own rows, so that finding and verdict cannot
        // disagree (the single 20,000/s run once ranked the strategies
        // while the repeated load curve found them tied).
        super::verdict::finding(ctx, "Many writers per socket"),
        slow_claim(ctx),
        super::verdict::finding(ctx, "Tail latency under steady load"),
        super::verdict::finding(ctx, "Many idle connections"),
        reliability_claim(ctx),
    ]
    .into_iter()
    .flatten()
    .collect();
    if claims.is_empty() {
        out.push_str("No results to base a recommendation on.\n");
    } else {
        out.push_str(&format!(
            "Each line is computed from the tables above (ratios read as in *Method*). \
             Values within {} of each other are called about the same rather than ranked.\n\n",
            format::percent(TIE)
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(values: &[f64]) -> flush::Spread {
        flush::Spread::of(values).expect("values")
    }

    #[test]
    fn the_echo_sentence_ranks_only_ranges_apart() {
        let tied = echo_sentence(
            64,
            vec![
                ("b".into(), spread(&[0.90, 0.94, 1.0])),
                ("a".into(), spread(&[0.93, 0.95, 0.99])),
            ],
            &[0.07, 0.09],
        )
        .expect("a sentence");
        assert!(
            tied.starts_with("With 64 in flight the strategies were about the same"),
            "{tied}"
        );
        assert!(tied.contains("0.07×–0.09×"), "{tied}");
        let apart = echo_sentence(
            1,
            vec![
                ("slow".into(), spread(&[0.70, 0.72, 0.75])),
                ("fast".into(), spread(&[0.95, 0.97, 1.0])),
                ("close".into(), spread(&[0.90, 0.93, 0.96])),
            ],
            &[],
        )
        .expect("a sentence");
        assert!(
            apart.starts_with("With 1 in flight `fast` (0.97× (0.95×–1.00×)) and `close` (0.93× (0.90×–0.96×)) led; `slow` (0.72× (0.70×–0.75×)) was behind"),
            "{apart}"
        );
        assert!(!apart.contains("naive"), "{apart}");
    }

    fn items(values: &[(&str, f64)]) -> Vec<Ranked<()>> {
        values
            .iter()
            .map(|(name, v)| ((*name).to_owned(), *v, ()))
            .collect()
    }

    fn names(group: &[Ranked<()>]) -> Vec<&str> {
        group.iter().map(|i| i.0.as_str()).collect()
    }

    #[test]
    fn the_tie_margin_is_relative_to_the_larger_value() {
        // Memory per connection in KiB: 8 apart of 143 is 5.6%.
        assert!(tied(135.0, 143.0));
        assert!(tied(143.0, 135.0));
        // p99 in ms: 0.31 apart of 2.50 is 12.4%.
        assert!(!tied(2.19, 2.50));
        assert!(tied(0.0, 0.0));
        assert!(tied(100.0, 90.0));
        assert!(!tied(100.0, 89.9));
    }

    #[test]
    fn near_equal_values_tie_instead_of_ranking() {
        let r = rank(
            items(&[
                ("ws-mpsc-writer", 143.0),
                ("ws-ref-unsplit", 135.0),
                ("ws-tokio-mutex", 140.0),
            ]),
            false,
        )
        .expect("ranked");
        assert!(r.all_tied());
        assert_eq!(
            names(&r.leaders),
            ["ws-ref-unsplit", "ws-tokio-mutex", "ws-mpsc-writer"]
        );
        assert!(r.trailers.is_empty());
    }

    #[test]
    fn values_apart_are_ranked() {
        let r = rank(
            items(&[("ws-tokio-mutex", 0.56), ("ws-mpsc-writer", 0.96)]),
            true,
        )
        .expect("ranked");
        assert!(!r.all_tied());
        assert_eq!(names(&r.leaders), ["ws-mpsc-writer"]);
        assert_eq!(names(&r.trailers), ["ws-tokio-mutex"]);
        // The rendered groups of one contender carry no tie note.
        let ratio = |(n, v, ()): &Ranked<()>| format!("`{n}` {}", format::ratio(*v));
        assert_eq!(
            cohort(&r.leaders, "throughput", ratio),
            "`ws-mpsc-writer` 0.96×"
        );
    }

    #[test]
    fn a_leader_tied_with_the_runner_up_is_not_ranked_above_it() {
        // 1.00 and 0.95 are within 10%, 0.80 is not within 10% of either.
        let r = rank(items(&[("a", 0.80), ("b", 0.95), ("c", 1.00)]), true).expect("ranked");
        assert_eq!(names(&r.leaders), ["c", "b"]);
        assert_eq!(names(&r.trailers), ["a"]);
        let ratio = |(n, v, ()): &Ranked<()>| format!("`{n}` {}", format::ratio(*v));
        assert_eq!(
            cohort(&r.leaders, "throughput", ratio),
            "`c` 1.00× and `b` 0.95×, about the same throughput (within 10.0% of each other)"
        );
        // A middle value tied with both ends goes with the best.
        let r = rank(items(&[("a", 100.0), ("b", 95.0), ("c", 89.0)]), true).expect("ranked");
        assert_eq!(names(&r.leaders), ["a", "b"]);
        assert_eq!(names(&r.trailers), ["c"]);
    }

    #[test]
    fn one_contender_is_neither_tied_nor_ranked() {
        let r = rank(items(&[("a", 1.0)]), true).expect("ranked");
        assert!(!r.all_tied());
        assert_eq!(names(&r.leaders), ["a"]);
        assert!(r.trailers.is_empty());
        assert!(rank(items(&[]), true).is_none());
    }

    #[test]
    fn joins_in_words() {
        assert_eq!(join(vec![]), "");
        assert_eq!(join(vec!["a".into()]), "a");
        assert_eq!(join(vec!["a".into(), "b".into()]), "a and b");
        assert_eq!(join(vec!["a".into(), "b".into(), "c".into()]), "a, b and c");
    }
}
