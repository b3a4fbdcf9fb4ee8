//! What `collect` runs: the scenarios' parameters (full and `--quick`), the
//! placement of each mode, and the list of runs in order.

use crate::contenders::{BEST_FLUSH, CONTENDERS, Contender, FLUSH_MODES};
use crate::manifest::{Mode, ModeInfo, Scenario};

/// The scenarios' parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// Open-loop echo, one long run per server: total offered rates, messages/s.
    pub latency_rates: Vec<u32>,
    /// Open-loop echo, one long run per server: the placements measured.
    pub latency_modes: Vec<Mode>,
    /// Open-loop echo: connections.
    pub latency_conns: usize,
    /// Open-loop echo: message size.
    pub latency_size: usize,
    /// Measured time of message scenarios.
    pub duration: &'static str,
    /// Warm-up of message scenarios.
    pub warmup: &'static str,
    /// How long message scenarios wait for stragglers (and the value undelivered messages count at).
    pub drain: &'static str,
    /// Slow consumer: members of the room.
    pub slow_conns: usize,
    /// Slow consumer: message size (large, so socket buffers fill within the run).
    pub slow_size: usize,
    /// Slow consumer: total rate from the one sender.
    pub slow_rate: u32,
    /// Slow consumer: measured time.
    pub slow_duration: &'static str,
    /// Slow consumer, contention and slow readers: interleaved repeats of
    /// every run (each its own server process).
    pub slow_repeats: u32,
    /// Slow readers: members of the room (one sender, one slow reader, the rest healthy).
    pub sweep_conns: usize,
    /// Slow readers: message size.
    pub sweep_size: usize,
    /// Slow readers: the room's offered rate, from the one sender.
    pub sweep_rate: u32,
    /// Slow readers: the slow member's reading paces, percent of the offered rate.
    pub sweep_paces: Vec<u32>,
    /// Slow readers: the slow member's `SO_RCVBUF`.
    pub sweep_rcvbuf: usize,
    /// Slow readers: measured time.
    pub sweep_duration: &'static str,
    /// Slow readers and detection: warm-up.
    pub sweep_warmup: &'static str,
    /// Detection in a quiet room: members (one sender, one stalled).
    pub quiet_conns: usize,
    /// Detection in a quiet room: message size.
    pub quiet_size: usize,
    /// Detection in a quiet room: the sender's rate.
    pub quiet_rate: u32,
    /// Detection in a quiet room: measured time (longer than the send timeout it waits for).
    pub quiet_duration: &'static str,
    /// Detection in a busy room (the sweep's room, a stalled member instead of a slow one): measured time.
    pub busy_duration: &'static str,
    /// Contention: members of the room.
    pub contention_conns: usize,
    /// Contention: members sending at once (every one a writer to every sink).
    pub contention_senders: usize,
    /// Contention: message size.
    pub contention_size: usize,
    /// Contention: total rate of all senders.
    pub contention_rate: u32,
    /// Contention: measured time (steady, so short: the repeats give the range).
    pub contention_duration: &'static str,
    /// Memory: idle connections (the scale run: as many as the 20,000
    /// open files a process may have here allow, with room to spare).
    pub memory_conns: usize,
    /// Memory: how long they are held.
    pub memory_hold: &'static str,
    /// Memory: the server's `--ping-interval` while they are held, so that
    /// the hold's CPU is what the heartbeat costs.
    pub memory_ping_interval: &'static str,
    /// The idle profile's price: echo message size (the README's "16 KiB
    /// messages", which a 4 KiB read buffer takes in four reads or more).
    pub profile_cost_size: usize,
    /// The idle profile's price: messages in flight per connection.
    pub profile_cost_inflight: u64,
    /// The idle profile's price: measured time of each run.
    pub profile_cost_duration: &'static str,
    /// The idle profile's price: warm-up of each run (one server a run, so
    /// not the sliced throughput warm-up, which must hold a whole round).
    pub profile_cost_warmup: &'static str,
    /// Large rooms: members of the one room of each run, one run per size.
    pub large_room_sizes: Vec<usize>,
    /// Large rooms: deliveries per second offered at every size (one
    /// member sends `large_room_deliveries / size` messages a second).
    pub large_room_deliveries: usize,
    /// Large rooms: measured time.
    pub large_room_duration: &'static str,
    /// Large rooms: warm-up.
    pub large_room_warmup: &'static str,
    /// Reliability, stalled-consumer flood: members of the room.
    pub flood_conns: usize,
    /// Reliability, stalled-consumer flood: members that stop reading.
    pub flood_stalled: usize,
    /// Reliability, stalled-consumer flood: message size.
    pub flood_size: usize,
    /// Reliability, stalled-consumer flood: total rate from the one sender.
    pub flood_rate: u32,
    /// Reliability, stalled-consumer flood: measured time with stalled members.
    pub flood_duration: &'static str,
    /// Reliability, the same flood without stalled members (steady, so shorter).
    pub flood_baseline_duration: &'static str,
    /// Reliability, both floods: warm-up.
    pub flood_warmup: &'static str,
    /// Reliability, churn: connect/disconnect cycles.
    pub churn_cycles: usize,
    /// Churn: rounds of `churn_cycles`, the server's RSS read after each:
    /// a second round that ends where the first did is no leak.
    pub churn_rounds: usize,
    /// Reliability, churn: share of cycles reset without a Close.
    pub churn_abrupt: &'static str,
    /// Reliability, churn: share of cycles reset mid-frame.
    pub churn_mid_message: &'static str,
    /// Reliability, bad input: the server's and the generator's `--max-message-size`.
    pub badinput_max_message_size: usize,
    /// Reliability, hostile clients: connections holding a partial message.
    pub hostile_attackers: usize,
    /// Reliability, hostile clients: sockets sending a request that never completes.
    pub hostile_slow: usize,
    /// Reliability, hostile clients: runs per server, interleaved, for the
    /// canary's p99 as a median with its range.
    pub hostile_repeats: u32,
    /// Reliability, shutdown under load: echo connections of the flood.
    pub shutdown_conns: usize,
    /// Reliability, shutdown under load: how long the flood runs before SIGTERM.
    pub shutdown_after: &'static str,
    /// Reliability, shutdown under load: the server's `--shutdown-grace`.
    pub shutdown_grace: &'static str,
    /// Generator ceiling: connections.
    pub ceiling_conns: usize,
    /// Generator ceiling: the open-loop rate tried (the calibration figure).
    pub ceiling_rate: u32,
    /// Generator ceiling: measured time of each run.
    pub ceiling_duration: &'static str,
    /// Generator ceiling: warm-up of each run.
    pub ceiling_warmup: &'static str,
    /// The load curve and memory: interleaved repeats of every run (each
    /// its own server process). The load curve's repeat `r` takes its
    /// maxima from throughput repeat `r`, so `throughput_repeats` is at least this.
    pub repeats: u32,
    /// Throughput and its replay: interleaved repeats, each one sliced
    /// `ws-loadgen` run per in-flight case. More than `repeats`, because a
    /// sliced repeat costs what one server's run did and its ratios are the
    /// deciding figures.
    pub throughput_repeats: u32,
    /// Throughput: closed-loop echo connections to each server (a sliced
    /// run opens them to every member: `--conns` is per `--url`).
    pub throughput_conns: usize,
    /// Throughput: message size.
    pub throughput_size: usize,
    /// Throughput: messages in flight per connection, one case each.
    pub throughput_inflight: Vec<u64>,
    /// Throughput: the measured window of one sliced run, all contenders'
    /// turns together (each contender is active for a 1/K share of it); a
    /// whole number of rounds of `throughput_slice`, or `ws-loadgen` refuses it.
    pub throughput_duration: &'static str,
    /// Throughput: warm-up of one sliced run, at least one round of
    /// `throughput_slice`, so that every contender has warmed up.
    pub throughput_warmup: &'static str,
    /// Throughput: one contender's turn in a sliced run (`ws-loadgen echo
    /// --slice`): all contenders of a case take turns within one run, so a
    /// ratio between them is taken within the same seconds of a drifting host.
    pub throughput_slice: &'static str,
    /// Saturation: members of the room, every one a sender.
    pub saturation_conns: usize,
    /// Saturation: message size.
    pub saturation_size: usize,
    /// Saturation: total send rates of all members, messages/s (deliveries/s = rate × members).
    pub saturation_rates: Vec<u32>,
    /// Saturation: interleaved repeats.
    pub saturation_repeats: u32,
    /// Saturation: measured time.
    pub saturation_duration: &'static str,
    /// Saturation: warm-up.
    pub saturation_warmup: &'static str,
    /// Load curve: offered rates as percentages of the server's closed-loop
    /// maximum (the throughput run at `load_reference_inflight` in flight,
    /// same server, flush mode and repeat).
    pub load_levels: Vec<u32>,
    /// Load curve: the in-flight count of the throughput run that sets the maximum.
    pub load_reference_inflight: u64,
    /// Load curve: the fixed offered rate every server also gets, messages/s.
    pub load_fixed_rate: u32,
    /// Load curve: measured time of each point.
    pub load_duration: &'static str,
    /// Load curve: warm-up of each point.
    pub load_warmup: &'static str,
    /// Heartbeat: the servers' and the generator's `--ping-interval`.
    pub heartbeat_ping_interval: &'static str,
    /// Heartbeat: interleaved repeats of every run.
    pub heartbeat_repeats: u32,
    /// Heartbeat: measured time of every case (the idle case's hold).
    pub heartbeat_duration: &'static str,
    /// Heartbeat: warm-up of the flood and the room (at least one ping
    /// interval, so that the first measured interval is a whole one).
    pub heartbeat_warmup: &'static str,
    /// Heartbeat: drain bound of the stalled room (the stalled member's
    /// messages never arrive, so its drain always runs out).
    pub heartbeat_drain: &'static str,
    /// Heartbeat, idle and flood: connections.
    pub heartbeat_conns: usize,
    /// Heartbeat, flood: closed-loop echo messages in flight per connection.
    pub heartbeat_inflight: u64,
    /// Heartbeat, flood: message size.
    pub heartbeat_size: usize,
    /// Heartbeat, stalled room: members (one sender, one stalled).
    pub heartbeat_room_conns: usize,
    /// Heartbeat, stalled room: the sender's rate.
    pub heartbeat_room_rate: u32,
    /// Heartbeat, stalled room: message size.
    pub heartbeat_room_size: usize,
}

impl Params {
    /// The real comparison.
    #[must_use]
    pub fn full() -> Self {
        Self {
            // One long pinned run per server at the pacing point, for
            // the deep percentiles (p99.9 needs many samples); the repeated,
            // interleaved latency figures are the load curve's. The unpinned
            // runs and the 60,000/s rate were dropped for the repeats (the load
            // curve covers rates up to each server's knee). 7 s measured
            // (140,000 round trips a server, enough for a p99.9; 10 s once:
            // the 3 s went to the large rooms).
            latency_rates: vec![20_000],
            latency_modes: vec![Mode::Pinned],
            latency_conns: 64,
            latency_size: 64,
            duration: "7s",
            warmup: "2s",
            drain: "2s",
            slow_conns: 100,
            // 16 KiB at 250/s: 4 MB/s per member, so a stalled member's socket
            // buffers (a few MB) fill in about a second and a 1024-message queue
            // in about four. The stalled member stops reading when it joins,
            // so a lock strategy's room freezes about a second into the 2 s
            // warm-up and stays frozen for the 5 s send timeout: up to about
            // 4 s into the measured window (the committed 20 s runs had
            // their frozen seconds at 0–4). 8 s measured hold the whole
            // freeze and 3 s of recovery after it; the 12 s more a run once
            // had (only recovery) went to the repeats.
            slow_size: 16 * 1024,
            slow_rate: 250,
            slow_duration: "8s",
            // Slow consumer, contention and the slow readers below, 4 room
            // servers × (3 + 6 cases) × 3 repeats = 108 runs: about 19.5
            // minutes (see the README's budget).
            slow_repeats: 3,
            // 16 KiB at 500/s: 8 MB/s to each of 20 members, well below the
            // 100 × 4 MB/s the slow-consumer runs above ask of the same core.
            // An 80 % reader falls behind by 1.6 MB/s: its 64 KiB SO_RCVBUF
            // (set, so Linux does not autotune it to tens of MB) is full at
            // once, the server's send buffer (at most tcp_wmem's maximum,
            // 4 MiB by default) within about 3 s, and a 4 MiB queue within
            // about 3 s more (the committed run saw it disconnected 4.8 s
            // after the start), all inside the 7 s of warm-up and 6 s
            // measured; a 50 % reader gets there in a third of that, a 95 %
            // one may not within the run (no server's room has lost its pace
            // at 95 % in any committed run; a 120 % control, which never
            // did, went to the large rooms). Measured 10 s once: the 4 s
            // went to the repeats.
            sweep_conns: 20,
            sweep_size: 16 * 1024,
            sweep_rate: 500,
            sweep_paces: vec![50, 80, 95],
            sweep_rcvbuf: 64 * 1024,
            sweep_duration: "6s",
            sweep_warmup: "1s",
            // One sender, 25 messages/s: few messages, so only a time bound
            // can find the stopped member (a 1024-message queue would take
            // 40 s). They are 16 KiB (400 KB/s) because on loopback the
            // kernel buffers a few MB for a peer that stopped reading, and
            // no policy can see the stall before they are full: with 4 KiB
            // messages that alone outlasts any affordable run. The buffers
            // plus a 5 s send timeout took 11.9 s from the start in the
            // committed run; 14 s measured after the 1 s warm-up leave 3 s
            // of margin (16 s once: the 2 s went to the repeats).
            quiet_conns: 4,
            quiet_size: 16 * 1024,
            quiet_rate: 25,
            quiet_duration: "14s",
            busy_duration: "6s",
            // 8 of 50 members sending 1 KiB at 200/s each: 80,000 deliveries/s,
            // well within every server's pinned core, so the figures show how
            // writers meet on the sinks rather than an overload. 3 s hold
            // 240,000 deliveries (10 s once: the repeats give the range).
            contention_conns: 50,
            contention_senders: 8,
            contention_size: 1024,
            contention_rate: 1600,
            contention_duration: "3s",
            memory_conns: 19_000,
            // 3 s: three pings a connection at `memory_ping_interval`, for
            // the heartbeat's CPU (5 s once; the 2 s × 30 runs went to the
            // replay series).
            memory_hold: "3s",
            memory_ping_interval: "1s",
            // 64 connections × 16 KiB × 8 in flight, `--flush batched`, with
            // default flags and with the idle profile by turns in one run
            // (the two take 200 ms turns: 1.5 s of sending each), the echo
            // servers but the room reference, once per memory repeat: 12
            // runs of ~6 s where 24 separate ones took ~3.5 s each. Paid
            // for by the ceiling's shorter runs.
            profile_cost_size: 16 * 1024,
            profile_cost_inflight: 8,
            profile_cost_duration: "4s",
            profile_cost_warmup: "1s",
            // One member sending 64 B into a room of 5,000 or 15,000 at
            // 30,000 deliveries/s in all (6 and 2 messages/s): well within
            // what one pinned worker fans out, and about a quarter of what
            // the generator's core receives from that many sockets (measured
            // by hand: 0.8 generator CPU seconds for 90,000 deliveries), so
            // the run shows each strategy's cost per delivery, not a
            // saturated core. A run of 15,000 spends most of its time
            // connecting (runs of 6.7–7.2 s in all in the committed run at
            // 5527e75, where a join no longer copies the room's member
            // list; 8–14 s before); 2.5 s measured (5 broadcasts
            // to 15,000) after 0.5 s. Every room server, each size, once per
            // memory repeat: 24 runs, about 2.5 minutes, paid for by the
            // slow-reader sweep's 120 % pace (a reader faster than the room,
            // the control that the 95 % pace already showed in every run)
            // and 3 s of each latency run.
            large_room_sizes: vec![5_000, 15_000],
            large_room_deliveries: 30_000,
            large_room_duration: "2500ms",
            large_room_warmup: "500ms",
            // 3 of 50 members stop reading 16 KiB messages at 250/s: 4 MB/s
            // each, so their socket buffers and any queue fill within seconds
            // (the send timeout ends a stalled member 5 s after its buffers
            // are full, so all of it is over about 6 s after the start) and
            // the rest of the 13 s shows whether memory stays bounded. 60 s
            // once: 40 s went to the slow-consumer and slow-reader repeats,
            // 7 s more to the hostile clients' repeats.
            flood_conns: 50,
            flood_stalled: 3,
            flood_size: 16 * 1024,
            flood_rate: 250,
            flood_duration: "13s",
            flood_baseline_duration: "8s",
            flood_warmup: "1s",
            churn_cycles: 10_000,
            churn_rounds: 2,
            churn_abrupt: "0.33",
            churn_mid_message: "0.1",
            badinput_max_message_size: 1 << 20,
            hostile_attackers: 9,
            hostile_slow: 2000,
            // 5.0–5.2 s a run in the committed run at 4421d6b, 6.5 s
            // estimated (the quiet second, the control's and the attack's
            // bytes, the attackers' outcomes, the slow requests): 3 × 5
            // servers, about 1.3 minutes, paid for by the floods' last
            // seconds (7 s of flat memory after the stalled members are gone
            // instead of 14, and 8 s of the baseline instead of 10: 4 room
            // servers) and by a recalibrated estimate (see
            // `the_plans_fit_their_budgets`).
            hostile_repeats: 3,
            shutdown_conns: 256,
            shutdown_after: "2s",
            shutdown_grace: "5s",
            ceiling_conns: 64,
            ceiling_rate: 150_000,
            // 4 s after 1 s, not the latency runs' 10 s after 2 s: the
            // ceiling compares the generator's rates, not deep percentiles
            // (the 49 s went to the idle profile's price).
            ceiling_duration: "4s",
            ceiling_warmup: "1s",
            repeats: 3,
            // The host's speed drifts by ±9 % in episodes of 5–15 s, so
            // ratios between servers measured in separate runs seconds
            // apart did not reproduce. So the 10 contenders of a case (5
            // echo servers × 2 flush modes) take turns of 200 ms within one
            // `ws-loadgen` run: a 2 s round, 1 round of warm-up (2 s) and
            // 10 measured (20 s), each contender 2 s active. 2 in-flight
            // cases × 5 repeats = 10 sliced runs of 22 s plus 10 server
            // starts each: about 4.5 minutes, what 60 separate runs of 3 s
            // after 1 s cost before (see the README's budget); the replay
            // costs as much again.
            throughput_repeats: 5,
            throughput_conns: 64,
            throughput_size: 64,
            throughput_inflight: vec![1, 64],
            throughput_duration: "20s",
            throughput_warmup: "2s",
            throughput_slice: "200ms",
            // 32 members all sending 64 B: 3,000, 6,000 and 12,000 messages/s
            // are 96k, 192k and 384k deliveries/s, below, at and beyond what
            // the strategies carry on one pinned worker (issue 10). 4 room
            // servers × 2 modes × 3 rates × 3 repeats = 72 runs of ~3.5 s:
            // about 4 minutes (2 s measured, was 3 s once: repeats give the
            // range, and 2 s holds 190k–770k deliveries). Four repeats once,
            // against runs where the host stole the vCPUs for a few
            // milliseconds; since a run with more than 5 % steal is run
            // again (`STEAL_RETRY`), the fourth went to the replay series.
            saturation_conns: 32,
            saturation_size: 64,
            saturation_rates: vec![3_000, 6_000, 12_000],
            saturation_repeats: 3,
            saturation_duration: "2s",
            saturation_warmup: "1s",
            // 5 echo servers × 2 modes × (3 levels + the fixed rate) × 3
            // repeats = 120 runs of ~2 s plus start-up: about 5 minutes.
            // The fixed 20,000/s is about 15 % of every server's maximum,
            // so it is the light-load point (a 10 % level went to the
            // replay series, as did 0.5 s of every point: 1.5 s at 50 %
            // still holds some 100,000 round trips for a p99).
            // The maximum is the 1-in-flight closed loop (wrk's, one request
            // per connection): the 64-in-flight one (~1.8M/s batched) is ten
            // times what the open-loop generator can pace (see the ceiling
            // runs), so every level of it would be generator limited.
            load_levels: vec![50, 80, 95],
            load_reference_inflight: 1,
            load_fixed_rate: 20_000,
            load_duration: "1500ms",
            load_warmup: "500ms",
            // Pings every 100 ms: 2.5 s measured hold 25 intervals a
            // connection, 1,600 over 64 connections, enough for a p99 and
            // a max; a ping held behind 64 × 16 KiB of queued echoes (1 MiB
            // a connection) shows as an interval of 2× and more. Idle
            // connections are the control (the generator's own delay), the
            // echo flood runs in both flush policies (a flush per message is
            // what keeps a writer's queue long), the stalled room is the
            // slow-consumer room's situation, its healthy members' pings.
            // 5 idle + 10 flood + 4 room runs × 2 repeats = 38 runs of
            // ~3–4 s: about 2.2 minutes estimated, 2.5 with the 2 s a
            // stalled run takes beyond its arguments (the stalled member's
            // close; `--quick` showed it). Two repeats, not three: a third
            // would cost 1.2 minutes more, and two already tell a late ping
            // (2×) from drift (a few %); both flush modes rather than a
            // third repeat of one, because which policy holds the pings
            // back is the finding. 2.5 s, not 3 s, to stay within the
            // issue's 2.5 minutes.
            heartbeat_ping_interval: "100ms",
            heartbeat_repeats: 2,
            heartbeat_duration: "2500ms",
            heartbeat_warmup: "500ms",
            heartbeat_drain: "500ms",
            heartbeat_conns: 64,
            heartbeat_inflight: 64,
            heartbeat_size: 16 * 1024,
            heartbeat_room_conns: 32,
            heartbeat_room_rate: 1_000,
            heartbeat_room_size: 1024,
        }
    }

    /// A smoke run: every scenario and server, tiny and short.
    #[must_use]
    pub fn quick() -> Self {
        Self {
            latency_rates: vec![2_000],
            latency_modes: vec![Mode::Pinned],
            latency_conns: 8,
            latency_size: 64,
            duration: "1s",
            warmup: "200ms",
            drain: "500ms",
            slow_conns: 10,
            slow_size: 4096,
            slow_rate: 100,
            slow_duration: "1s",
            slow_repeats: 1,
            sweep_conns: 4,
            sweep_size: 4096,
            sweep_rate: 200,
            sweep_paces: vec![80],
            sweep_rcvbuf: 16 * 1024,
            sweep_duration: "1s",
            sweep_warmup: "200ms",
            quiet_conns: 3,
            quiet_size: 1024,
            quiet_rate: 20,
            quiet_duration: "1s",
            busy_duration: "1s",
            contention_conns: 10,
            contention_senders: 4,
            contention_size: 1024,
            contention_rate: 400,
            contention_duration: "1s",
            memory_conns: 200,
            memory_hold: "500ms",
            memory_ping_interval: "1s",
            profile_cost_size: 16 * 1024,
            profile_cost_inflight: 8,
            profile_cost_duration: "200ms",
            profile_cost_warmup: "100ms",
            large_room_sizes: vec![200, 600],
            large_room_deliveries: 6_000,
            large_room_duration: "300ms",
            large_room_warmup: "100ms",
            flood_conns: 10,
            flood_stalled: 2,
            flood_size: 4096,
            flood_rate: 100,
            flood_duration: "1s",
            flood_baseline_duration: "1s",
            flood_warmup: "200ms",
            churn_cycles: 300,
            churn_rounds: 2,
            churn_abrupt: "0.33",
            churn_mid_message: "0.1",
            badinput_max_message_size: 1 << 20,
            hostile_attackers: 4,
            hostile_slow: 200,
            hostile_repeats: 1,
            shutdown_conns: 32,
            shutdown_after: "1s",
            shutdown_grace: "5s",
            ceiling_conns: 8,
            ceiling_rate: 2_000,
            ceiling_duration: "300ms",
            ceiling_warmup: "100ms",
            // One repeat: a smoke run shows every step works, not ranges.
            repeats: 1,
            throughput_repeats: 1,
            throughput_conns: 8,
            throughput_size: 64,
            throughput_inflight: vec![1, 64],
            // Turns of 20 ms (twice `ws-loadgen`'s shortest): one round of
            // 10 turns (200 ms) warms up, two are measured.
            throughput_duration: "400ms",
            throughput_warmup: "200ms",
            throughput_slice: "20ms",
            saturation_conns: 8,
            saturation_size: 64,
            saturation_rates: vec![400],
            saturation_repeats: 1,
            saturation_duration: "300ms",
            saturation_warmup: "100ms",
            // One level: the smoke run only shows that a level finds its
            // maximum; the replay series needed the seconds.
            load_levels: vec![95],
            load_reference_inflight: 1,
            load_fixed_rate: 2_000,
            load_duration: "300ms",
            load_warmup: "100ms",
            heartbeat_ping_interval: "100ms",
            heartbeat_repeats: 1,
            heartbeat_duration: "500ms",
            heartbeat_warmup: "200ms",
            heartbeat_drain: "200ms",
            heartbeat_conns: 8,
            heartbeat_inflight: 8,
            heartbeat_size: 4096,
            heartbeat_room_conns: 8,
            heartbeat_room_rate: 200,
            heartbeat_room_size: 1024,
        }
    }
}

/// Workers and pinning of each mode the plan uses (`params`' latency
/// placements; every other scenario runs pinned), for `run.json` and the report.
#[must_use]
pub fn modes(params: &Params) -> Vec<ModeInfo> {
    let mut modes = vec![ModeInfo {
        mode: Mode::Pinned,
        server: "taskset -c 0, --workers 1 (one tokio worker on core 0)".into(),
        load: "ws-loadgen --cpu 1, one current-thread runtime on core 1".into(),
    }];
    if params.latency_modes.contains(&Mode::Unpinned) {
        modes.push(ModeInfo {
            mode: Mode::Unpinned,
            server: "--workers 2, no pinning".into(),
            load: "ws-loadgen, one current-thread runtime, no pinning".into(),
        });
    }
    modes
}

/// Server worker threads in a mode.
#[must_use]
pub fn workers(mode: Mode) -> usize {
    match mode {
        Mode::Pinned => 1,
        Mode::Unpinned => 2,
    }
}

/// One run to do.
#[derive(Clone, Debug)]
pub struct Run {
    /// Scenario.
    pub scenario: Scenario,
    /// Server.
    pub server: Contender,
    /// Placement.
    pub mode: Mode,
    /// Case name (part of the file names).
    pub case: String,
    /// Offered rate, latency runs.
    pub rate: Option<f64>,
    /// Path of the WebSocket route.
    pub route: &'static str,
    /// The `ws-loadgen` subcommand.
    pub subcommand: &'static str,
    /// `ws-loadgen` arguments after the subcommand, without URL and outputs.
    pub args: Vec<String>,
    /// Server arguments after `--addr` and `--workers`.
    pub server_args: Vec<String>,
    /// Pass `--server-pid` to the load (not when the server is stopped under it).
    pub server_pid: bool,
    /// Pass `--metrics-url` (the server's `/metrics`) to the load.
    pub metrics: bool,
    /// Shutdown under load: send the server SIGTERM this long after the load started.
    pub sigterm_after: Option<&'static str>,
    /// The server's `--flush` policy, when the run sets one (it is also in `server_args`).
    pub flush: Option<&'static str>,
    /// Which repeat of an interleaved series this is (1, 2, …).
    pub repeat: Option<u32>,
    /// An offered rate known only once another run of the same series has
    /// measured: `args` then hold [`RATE_PLACEHOLDER`] after `--rate`.
    pub rate_of: Option<RateOf>,
    /// The slice group this run belongs to (`throughput/inflight-64/r2`):
    /// the consecutive runs of a group are measured together, by turns, in
    /// one `ws-loadgen` run (each still its own server process and record),
    /// so that their ratios come from the same seconds of a drifting host.
    /// Members have identical `args`, which carry `--slice`.
    pub slice_group: Option<String>,
}

/// An offered rate as a share of what an earlier run measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateOf {
    /// The scenario of the run that measured the maximum.
    pub scenario: Scenario,
    /// Its case (flush policy included), with the same server, mode and repeat as this run.
    pub case: String,
    /// Percent of its achieved rate to offer.
    pub percent: u32,
}

/// Stands for the offered rate in the arguments of a run with [`Run::rate_of`].
pub const RATE_PLACEHOLDER: &str = "{rate}";

impl Run {
    /// Files' path under `results/`, without extension.
    #[must_use]
    pub fn stem(&self) -> String {
        let repeat = self.repeat.map(|r| format!("-r{r}")).unwrap_or_default();
        format!(
            "{}/{}/{}-{}{repeat}",
            self.scenario.dir(),
            self.mode.name(),
            self.server.name,
            self.case
        )
    }

    /// A run with the usual defaults: `--server-pid`, no metrics, no SIGTERM.
    fn new(
        scenario: Scenario,
        server: Contender,
        case: &str,
        route: &'static str,
        subcommand: &'static str,
        args: Vec<String>,
    ) -> Self {
        Self {
            scenario,
            server,
            mode: Mode::Pinned,
            case: case.to_owned(),
            rate: None,
            route,
            subcommand,
            args,
            server_args: Vec::new(),
            server_pid: true,
            metrics: false,
            sigterm_after: None,
            flush: None,
            repeat: None,
            rate_of: None,
            slice_group: None,
        }
    }

    /// The stem of the run whose achieved rate sets this one's (same server,
    /// mode and repeat), when it has one.
    #[must_use]
    pub fn rate_source(&self) -> Option<String> {
        let of = self.rate_of.as_ref()?;
        let source = Self {
            scenario: of.scenario,
            case: of.case.clone(),
            ..self.clone()
        };
        Some(source.stem())
    }

    /// This run with its offered rate known: `rate` replaces
    /// [`RATE_PLACEHOLDER`] in the arguments and is recorded.
    #[must_use]
    pub fn with_rate(&self, rate: u32) -> Self {
        let args = self
            .args
            .iter()
            .map(|a| {
                if a == RATE_PLACEHOLDER {
                    rate.to_string()
                } else {
                    a.clone()
                }
            })
            .collect();
        Self {
            args,
            rate: Some(f64::from(rate)),
            ..self.clone()
        }
    }

    /// This run with the server's `--flush` set to `flush`, and the policy
    /// first in the case name (`each-inflight-64`).
    fn with_flush(mut self, flush: &'static str) -> Self {
        self.flush = Some(flush);
        self.case = format!("{flush}-{}", self.case);
        self.server_args.extend(strings(&["--flush", flush]));
        self
    }
}

/// The timing arguments every message scenario shares, then `load`.
fn timed(duration: &str, warmup: &str, drain: &str, load: &[&str]) -> Vec<String> {
    let mut args = strings(&[
        "--duration",
        duration,
        "--warmup",
        warmup,
        "--drain-timeout",
        drain,
    ]);
    args.extend(strings(load));
    args
}

/// The arguments of a closed-loop echo run over the throughput
/// connections: `inflight` messages of `size` outstanding per connection,
/// measured for `duration` after `warmup`.
fn closed_echo(
    p: &Params,
    duration: &str,
    warmup: &str,
    size: usize,
    inflight: u64,
) -> Vec<String> {
    timed(
        duration,
        warmup,
        p.drain,
        &[
            "--conns",
            &p.throughput_conns.to_string(),
            "--size",
            &size.to_string(),
            "--inflight",
            &inflight.to_string(),
        ],
    )
}

/// The arguments of an open-loop echo run at `rate` (or the placeholder a
/// load level fills in): the latency connections and size, timed.
fn open_echo(p: &Params, duration: &str, warmup: &str, rate: &str) -> Vec<String> {
    timed(
        duration,
        warmup,
        p.drain,
        &[
            "--conns",
            &p.latency_conns.to_string(),
            "--size",
            &p.latency_size.to_string(),
            "--rate",
            rate,
        ],
    )
}

/// `repeats` rounds of `round`'s runs, interleaved (A B C …, A B C …), each
/// run tagged with its repeat, so that drift over the collection hits every
/// contender alike and each repeat holds its own reference run.
fn interleaved(repeats: u32, round: &[Run]) -> Vec<Run> {
    (1..=repeats)
        .flat_map(|repeat| in_repeat(repeat, round))
        .collect()
}

/// `round`'s runs tagged with `repeat`; a slice group gets the repeat in
/// its key (`…/r2`), so that each repeat's members meet in their own
/// `ws-loadgen` run.
fn in_repeat(repeat: u32, round: &[Run]) -> impl Iterator<Item = Run> + '_ {
    round.iter().cloned().map(move |run| Run {
        repeat: Some(repeat),
        slice_group: run.slice_group.map(|g| format!("{g}/r{repeat}")),
        ..run
    })
}

/// The plan cut into what `collect` executes at once: a run alone, or the
/// consecutive runs of one slice group (one `ws-loadgen` run for all).
pub fn steps(runs: &[Run]) -> impl Iterator<Item = &[Run]> {
    runs.chunk_by(|a, b| a.slice_group.is_some() && a.slice_group == b.slice_group)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The `slow` arguments for a member that reads at full speed: the
/// scenario needs one slow or stalled member, and this one is neither.
const FULL_SPEED: [&str; 6] = ["--stalled", "0", "--slow", "1", "--slow-delay", "0s"];

/// The one skeleton of every `ws-loadgen slow` run (slow consumers,
/// contention, slow readers, the reliability floods): a room of `conns`
/// members, `senders` of them sending `size`-byte messages at `rate` in
/// total, for `duration` after `warmup`; each kind of run adds only who is
/// slow or stalled.
#[derive(Clone, Copy, Debug)]
struct RoomFlood {
    conns: usize,
    senders: usize,
    size: usize,
    rate: u32,
    duration: &'static str,
    warmup: &'static str,
    drain: &'static str,
}

impl RoomFlood {
    /// The arguments, then `extra`.
    fn args<S: AsRef<str>>(&self, extra: &[S]) -> Vec<String> {
        let mut args = strings(&[
            "--conns",
            &self.conns.to_string(),
            "--senders",
            &self.senders.to_string(),
            "--size",
            &self.size.to_string(),
            "--rate",
            &self.rate.to_string(),
            "--duration",
            self.duration,
            "--warmup",
            self.warmup,
            "--drain-timeout",
            self.drain,
        ]);
        args.extend(extra.iter().map(|s| s.as_ref().to_owned()));
        args
    }

    /// One run per room server, in contender order.
    fn per_room_server<S: AsRef<str>>(
        &self,
        scenario: Scenario,
        case: &str,
        route: &'static str,
        extra: &[S],
    ) -> Vec<Run> {
        CONTENDERS
            .into_iter()
            .filter(|c| c.rooms)
            .map(|server| Run::new(scenario, server, case, route, "slow", self.args(extra)))
            .collect()
    }
}

/// Slow-consumer isolation (a room with one stalled member, and the same
/// room where it reads: the baseline) and contention (several senders in one
/// room, nobody slow), every room server; rounds interleaved.
fn slow(p: &Params) -> Vec<Run> {
    let slow = RoomFlood {
        conns: p.slow_conns,
        senders: 1,
        size: p.slow_size,
        rate: p.slow_rate,
        duration: p.slow_duration,
        warmup: p.warmup,
        drain: p.drain,
    };
    // `slow` needs one slow or stalled member, so the baseline has a "slow"
    // member with no delay: it reads at full speed, like the healthy ones,
    // and the healthy group is the same size in both cases.
    let mut round = slow.per_room_server(Scenario::Slow, "baseline", "/ws/room/slow", &FULL_SPEED);
    round.extend(slow.per_room_server(
        Scenario::Slow,
        "stalled",
        "/ws/room/slow",
        &["--stalled", "1"],
    ));
    // Several senders in one room, nobody slow: every sink has several writers.
    let contention = RoomFlood {
        conns: p.contention_conns,
        senders: p.contention_senders,
        size: p.contention_size,
        rate: p.contention_rate,
        duration: p.contention_duration,
        ..slow
    };
    round.extend(contention.per_room_server(
        Scenario::Slow,
        "contention",
        "/ws/room/contention",
        &FULL_SPEED,
    ));
    interleaved(p.slow_repeats, &round)
}

/// The slow-reader sweep (one member reading at each pace, in a room busy
/// enough that it falls behind) and the policy's detection time (a member
/// that stops reading, in a quiet room and in the sweep's busy one), every
/// room server; rounds interleaved. Each run watches the server's
/// slow-consumer counter (`--metrics-url`): the stalled member cannot read
/// its Close, and the slow one reads it late.
fn slow_readers(p: &Params) -> Vec<Run> {
    let busy = RoomFlood {
        conns: p.sweep_conns,
        senders: 1,
        size: p.sweep_size,
        rate: p.sweep_rate,
        duration: p.sweep_duration,
        warmup: p.sweep_warmup,
        drain: p.drain,
    };
    let quiet = RoomFlood {
        conns: p.quiet_conns,
        size: p.quiet_size,
        rate: p.quiet_rate,
        duration: p.quiet_duration,
        ..busy
    };
    let rcvbuf = p.sweep_rcvbuf.to_string();
    let mut runs = Vec::new();
    for &pace in &p.sweep_paces {
        let fraction = format!("{}", f64::from(pace) / 100.0);
        let extra = [
            "--stalled",
            "0",
            "--slow",
            "1",
            "--slow-pace",
            &fraction,
            "--slow-rcvbuf",
            &rcvbuf,
        ];
        runs.extend(busy.per_room_server(
            Scenario::SlowReaders,
            &format!("{PACE_CASE}{pace}"),
            "/ws/room/sweep",
            &extra,
        ));
    }
    let busy = RoomFlood {
        duration: p.busy_duration,
        ..busy
    };
    for (case, flood) in [(DETECT_QUIET, quiet), (DETECT_BUSY, busy)] {
        runs.extend(flood.per_room_server(
            Scenario::SlowReaders,
            case,
            "/ws/room/detect",
            &["--stalled", "1"],
        ));
    }
    for run in &mut runs {
        run.metrics = true;
    }
    interleaved(p.slow_repeats, &runs)
}

/// The sweep's cases: `pace-<percent>`.
pub const PACE_CASE: &str = "pace-";
/// Detection in a quiet room.
pub const DETECT_QUIET: &str = "detect-quiet";
/// Detection in a busy room.
pub const DETECT_BUSY: &str = "detect-busy";

/// Every run, in order: latency (by placement and rate; servers interleaved
/// so drift hits them alike), the repeated slow consumer and contention, the
/// repeated slow readers, memory, the repeated heartbeat, reliability, the generator's ceiling, then
/// the other repeated series: throughput with the load curve (each round the
/// throughput runs first, so that every load level finds its maximum; each
/// in-flight case's contenders one slice group), saturation, and the
/// throughput's replay (sliced alike).
#[must_use]
pub fn runs(p: &Params) -> Vec<Run> {
    let mut runs = Vec::new();
    for &mode in &p.latency_modes {
        for &rate in &p.latency_rates {
            for server in CONTENDERS {
                runs.push(Run {
                    mode,
                    rate: Some(f64::from(rate)),
                    ..Run::new(
                        Scenario::Latency,
                        server,
                        &format!("rate-{rate}"),
                        "/ws/echo",
                        "echo",
                        open_echo(p, p.duration, p.warmup, &rate.to_string()),
                    )
                });
            }
        }
    }
    runs.extend(slow(p));
    runs.extend(slow_readers(p));
    runs.extend(memory(p));
    runs.extend(heartbeat(p));
    runs.extend(reliability(p));
    runs.extend(ceiling(p));
    runs.extend(echo_series(p));
    runs.extend(saturation(p));
    runs.extend(replay(p));
    runs
}

/// The throughput series again, last: the same sliced runs in the same
/// interleaved order, so that the report can set each echo ratio's median
/// beside the one a re-run gives (the issue's "re-running reproduces each
/// ratio within 10 %"), at the price of one more series rather than a
/// second comparison.
fn replay(p: &Params) -> Vec<Run> {
    interleaved(p.throughput_repeats, &throughput(p, Scenario::Replay))
}

/// The memory case with default flags.
pub const MEMORY_DEFAULT: &str = "idle";
/// The memory case with the README's "many idle connections" profile.
pub const MEMORY_IDLE_PROFILE: &str = "idle-profile";
/// The server flags of the README's "many idle connections" profile: the
/// read buffer is most of an idle connection's memory.
pub const IDLE_PROFILE: &[&str] = &["--read-buffer-size", "4096"];

/// Idle connections held open, every server once per repeat, with default
/// flags and with the idle profile, the server pinging each of them every
/// `memory_ping_interval`: RSS per connection, handshakes per second, and
/// the heartbeat's CPU. Repeated because RSS per connection moves by a few
/// percent between processes (the allocator's arenas, the kernel's socket
/// buffers), more than some strategies differ.
fn memory(p: &Params) -> Vec<Run> {
    let round: Vec<Run> = CONTENDERS
        .iter()
        .flat_map(|&server| {
            [MEMORY_DEFAULT, MEMORY_IDLE_PROFILE].map(|case| {
                let mut run = Run::new(
                    Scenario::Memory,
                    server,
                    case,
                    "/ws/echo",
                    "connect",
                    strings(&[
                        "--conns",
                        &p.memory_conns.to_string(),
                        "--hold",
                        p.memory_hold,
                        "--ping-interval",
                        p.memory_ping_interval,
                    ]),
                );
                run.server_args = strings(&["--ping-interval", p.memory_ping_interval]);
                if case == MEMORY_IDLE_PROFILE {
                    run.server_args.extend(strings(IDLE_PROFILE));
                }
                run
            })
        })
        .chain(profile_cost(p))
        .chain(large_rooms(p))
        .collect();
    interleaved(p.repeats, &round)
}

/// The case prefix of the large-room runs (`large-room-5000`, ...).
pub const LARGE_ROOM: &str = "large-room-";

/// Large rooms: one room of each of `large_room_sizes` on every room
/// server (its default flags), one member sending 64 B, open loop, at
/// `large_room_deliveries` deliveries per second in all: fan-out latency,
/// the server's CPU per delivery and the generator's, once per memory
/// repeat (the scale runs' round: thousands of connections a run).
fn large_rooms(p: &Params) -> Vec<Run> {
    CONTENDERS
        .into_iter()
        .filter(|c| c.rooms)
        .flat_map(|server| {
            p.large_room_sizes.iter().map(move |&members| {
                let rate = (p.large_room_deliveries / members).max(1);
                Run::new(
                    Scenario::Memory,
                    server,
                    &format!("{LARGE_ROOM}{members}"),
                    "/ws/room/large",
                    "room",
                    timed(
                        p.large_room_duration,
                        p.large_room_warmup,
                        p.drain,
                        &[
                            "--conns",
                            &members.to_string(),
                            "--senders",
                            "1",
                            "--size",
                            "64",
                            "--rate",
                            &rate.to_string(),
                        ],
                    ),
                )
            })
        })
        .collect()
}

/// The idle profile's price, with default flags.
pub const PROFILE_COST_DEFAULT: &str = "cost-default";
/// The idle profile's price, with the profile.
pub const PROFILE_COST_IDLE: &str = "cost-idle-profile";

/// What the idle profile costs a busy connection: closed-loop echo of
/// large messages at `--flush batched`, every echo server but the room
/// reference, with default flags and with [`IDLE_PROFILE`], the two by
/// turns in one sliced run. Part of the memory round, so that each repeat
/// has both of a server's runs.
fn profile_cost(p: &Params) -> Vec<Run> {
    let mut args = closed_echo(
        p,
        p.profile_cost_duration,
        p.profile_cost_warmup,
        p.profile_cost_size,
        p.profile_cost_inflight,
    );
    // The two settings of a server by turns in one run, like the
    // throughput series: their ratio then comes from the same seconds.
    args.extend(strings(&["--slice", p.throughput_slice]));
    CONTENDERS
        .into_iter()
        .filter(|c| c.name != crate::contenders::ROOM_REFERENCE)
        .flat_map(|server| {
            [PROFILE_COST_DEFAULT, PROFILE_COST_IDLE].map(|case| {
                let mut run = Run::new(
                    Scenario::Memory,
                    server,
                    case,
                    "/ws/echo",
                    "echo",
                    args.clone(),
                );
                run.flush = Some(BEST_FLUSH);
                run.slice_group = Some(format!("memory/cost/{}", server.name));
                run.server_args = strings(&["--flush", BEST_FLUSH]);
                if case == PROFILE_COST_IDLE {
                    run.server_args.extend(strings(IDLE_PROFILE));
                }
                run
            })
        })
        .collect()
}

/// The heartbeat case of idle connections.
pub const HEARTBEAT_IDLE: &str = "idle";
/// The heartbeat case of the echo flood (after its flush policy: `batched-flood`).
pub const HEARTBEAT_FLOOD: &str = "flood";
/// The heartbeat case of the room with a stalled member.
pub const HEARTBEAT_STALLED: &str = "stalled";

/// Heartbeat punctuality, pinned, every server and every one of its
/// routes: idle connections held open, a closed-loop echo flood in both
/// flush policies (the [`FlushSeries`] skeleton), and (room servers) a room with one
/// stalled member; server and generator both get `--ping-interval`, so the
/// intervals are reported as multiples of it. Rounds interleaved.
fn heartbeat(p: &Params) -> Vec<Run> {
    let conns = p.heartbeat_conns.to_string();
    let mut round: Vec<Run> = CONTENDERS
        .into_iter()
        .map(|server| {
            Run::new(
                Scenario::Heartbeat,
                server,
                HEARTBEAT_IDLE,
                "/ws/echo",
                "connect",
                strings(&["--conns", &conns, "--hold", p.heartbeat_duration]),
            )
        })
        .collect();
    // The flood's drain ends with its last echo (64 MiB in flight take
    // well under a second), so it gets the usual bound; the room's cannot
    // end early (the stalled member never reads), so its bound is short.
    let flood = timed(
        p.heartbeat_duration,
        p.heartbeat_warmup,
        p.drain,
        &[
            "--conns",
            &conns,
            "--size",
            &p.heartbeat_size.to_string(),
            "--inflight",
            &p.heartbeat_inflight.to_string(),
        ],
    );
    let every = |_: &Contender| true;
    let series = FlushSeries {
        scenario: Scenario::Heartbeat,
        serves: &every,
        route: "/ws/echo",
        subcommand: "echo",
    };
    round.extend(series.round(vec![(HEARTBEAT_FLOOD.to_owned(), None, flood)]));
    let room = RoomFlood {
        conns: p.heartbeat_room_conns,
        senders: 1,
        size: p.heartbeat_room_size,
        rate: p.heartbeat_room_rate,
        duration: p.heartbeat_duration,
        warmup: p.heartbeat_warmup,
        drain: p.heartbeat_drain,
    };
    round.extend(room.per_room_server(
        Scenario::Heartbeat,
        HEARTBEAT_STALLED,
        "/ws/room/heartbeat",
        &["--stalled", "1"],
    ));
    let ping = strings(&["--ping-interval", p.heartbeat_ping_interval]);
    for run in &mut round {
        run.server_args.extend(ping.iter().cloned());
        run.args.extend(ping.iter().cloned());
    }
    interleaved(p.heartbeat_repeats, &round)
}

/// The repeated echo series: closed-loop throughput, then the load curve
/// that takes its maximum from it, in every round; rounds interleaved.
/// Throughput has more repeats than the load curve (`throughput_repeats`
/// against `repeats`): the last rounds hold throughput alone, and the load
/// curve of repeat `r` still finds throughput repeat `r` before it.
fn echo_series(p: &Params) -> Vec<Run> {
    let (throughput, curve) = (throughput(p, Scenario::Throughput), load_curve(p));
    (1..=p.throughput_repeats.max(p.repeats))
        .flat_map(|repeat| {
            let throughput = (repeat <= p.throughput_repeats).then_some(&throughput);
            let curve = (repeat <= p.repeats).then_some(&curve);
            throughput
                .into_iter()
                .chain(curve)
                .flat_map(move |round| in_repeat(repeat, round))
        })
        .collect()
}

/// Closed-loop echo, pinned, every echo server in both flush modes at each
/// in-flight count, so that each repeat has its own
/// `ws-ref-unsplit --flush batched` to divide by. The runs of one case are
/// one slice group: they take turns of `throughput_slice` within one
/// `ws-loadgen` run, so their ratios are taken within the same seconds.
/// `scenario` is [`Scenario::Throughput`], or [`Scenario::Replay`] for its replay.
fn throughput(p: &Params, scenario: Scenario) -> Vec<Run> {
    let echo = |_: &Contender| true;
    let series = FlushSeries {
        scenario,
        serves: &echo,
        route: "/ws/echo",
        subcommand: "echo",
    };
    let mut round = Vec::new();
    for inflight in &p.throughput_inflight {
        let case = format!("inflight-{inflight}");
        let mut args = closed_echo(
            p,
            p.throughput_duration,
            p.throughput_warmup,
            p.throughput_size,
            *inflight,
        );
        args.extend(strings(&["--slice", p.throughput_slice]));
        let group = format!("{}/{case}", scenario.dir());
        round.extend(
            series
                .round(vec![(case, None, args)])
                .into_iter()
                .map(|run| Run {
                    slice_group: Some(group.clone()),
                    ..run
                }),
        );
    }
    round
}

/// The load-curve case of a level: `load-<percent>`.
pub const LOAD_CASE: &str = "load-";

/// Open-loop echo, pinned, every echo server in both flush modes: at each
/// level of `load_levels` (percent of the same server's closed-loop maximum
/// in the same mode and repeat) and at the fixed rate.
fn load_curve(p: &Params) -> Vec<Run> {
    let load = |rate: &str| open_echo(p, p.load_duration, p.load_warmup, rate);
    let mut cases: Vec<(String, Option<f64>, Vec<String>)> = p
        .load_levels
        .iter()
        .map(|level| (format!("{LOAD_CASE}{level}"), None, load(RATE_PLACEHOLDER)))
        .collect();
    let fixed = p.load_fixed_rate;
    cases.push((
        format!("rate-{fixed}"),
        Some(f64::from(fixed)),
        load(&fixed.to_string()),
    ));
    let echo = |_: &Contender| true;
    let series = FlushSeries {
        scenario: Scenario::LoadCurve,
        serves: &echo,
        route: "/ws/echo",
        subcommand: "echo",
    };
    let reference = format!("inflight-{}", p.load_reference_inflight);
    series
        .round(cases)
        .into_iter()
        .map(|run| {
            let level = run
                .case
                .split_once(LOAD_CASE)
                .and_then(|(_, l)| l.parse().ok());
            match (level, run.flush) {
                (Some(percent), Some(flush)) => Run {
                    rate_of: Some(RateOf {
                        scenario: Scenario::Throughput,
                        case: format!("{flush}-{reference}"),
                        percent,
                    }),
                    ..run
                },
                _ => run,
            }
        })
        .collect()
}

/// Every member of one room sending, open loop, pinned, every room server in
/// both flush modes at each total rate.
fn saturation(p: &Params) -> Vec<Run> {
    let cases = p.saturation_rates.iter().map(|&rate| {
        let args = timed(
            p.saturation_duration,
            p.saturation_warmup,
            p.drain,
            &[
                "--conns",
                &p.saturation_conns.to_string(),
                "--size",
                &p.saturation_size.to_string(),
                "--rate",
                &rate.to_string(),
            ],
        );
        (format!("rate-{rate}"), Some(f64::from(rate)), args)
    });
    let rooms = |c: &Contender| c.rooms;
    let series = FlushSeries {
        scenario: Scenario::Saturation,
        serves: &rooms,
        route: "/ws/room/saturation",
        subcommand: "room",
    };
    interleaved(p.saturation_repeats, &series.round(cases.collect()))
}

/// A scenario run by every server it applies to in both flush policies:
/// the skeleton the repeated flush-policy scenarios share (throughput, load
/// curve, saturation, the heartbeat's flood). A round is built here; [`interleaved`] repeats rounds
/// (also the slow-consumer and slow-reader rounds, which run each server
/// with its default policy alone).
struct FlushSeries<'a> {
    scenario: Scenario,
    /// Which servers run it.
    serves: &'a dyn Fn(&Contender) -> bool,
    route: &'static str,
    subcommand: &'static str,
}

impl FlushSeries<'_> {
    /// One round: every (case, server, policy), pinned. A case is its name,
    /// its offered rate and its `ws-loadgen` arguments.
    fn round(&self, cases: Vec<(String, Option<f64>, Vec<String>)>) -> Vec<Run> {
        let mut round = Vec::new();
        for (case, rate, args) in cases {
            for server in CONTENDERS.into_iter().filter(|c| (self.serves)(c)) {
                for flush in FLUSH_MODES {
                    let run = Run::new(
                        self.scenario,
                        server,
                        &case,
                        self.route,
                        self.subcommand,
                        args.clone(),
                    );
                    round.push(Run { rate, ..run }.with_flush(flush));
                }
            }
        }
        round
    }
}

/// The generator's ceiling: `ws-loadgen echo` against the echo reference
/// (one task owns each whole socket), pinned, at growing load: one message
/// in flight per connection (with and without body checks), more in flight,
/// larger messages, and the open-loop rate of the calibration probe.
fn ceiling(p: &Params) -> Vec<Run> {
    let Some(server) = CONTENDERS
        .into_iter()
        .find(|c| c.name == crate::contenders::ECHO_REFERENCE)
    else {
        return Vec::new();
    };
    let rate = p.ceiling_rate.to_string();
    let cases: [(&str, &[&str]); 7] = [
        ("inflight-1", &["--inflight", "1", "--size", "64"]),
        (
            "inflight-1-no-verify",
            &["--inflight", "1", "--size", "64", "--no-verify"],
        ),
        ("inflight-2", &["--inflight", "2", "--size", "64"]),
        ("inflight-16", &["--inflight", "16", "--size", "64"]),
        ("inflight-16-4k", &["--inflight", "16", "--size", "4096"]),
        (
            "inflight-16-4k-no-verify",
            &["--inflight", "16", "--size", "4096", "--no-verify"],
        ),
        ("open-loop", &["--rate", &rate, "--size", "64"]),
    ];
    cases
        .into_iter()
        .map(|(case, load)| {
            let mut args = timed(
                p.ceiling_duration,
                p.ceiling_warmup,
                p.drain,
                &["--conns", &p.ceiling_conns.to_string()],
            );
            args.extend(strings(load));
            Run::new(Scenario::Ceiling, server, case, "/ws/echo", "echo", args)
        })
        .collect()
}

/// The reliability runs, server by server in contender order: the stalled
/// flood and its no-stall twin (room servers), churn on echo and on a room,
/// bad input, and SIGTERM under an echo flood.
fn reliability(p: &Params) -> Vec<Run> {
    let mut runs = Vec::new();
    for server in CONTENDERS {
        if server.rooms {
            for (case, duration, extra) in [
                (
                    "flood-stalled",
                    p.flood_duration,
                    vec!["--stalled".to_owned(), p.flood_stalled.to_string()],
                ),
                // As in the slow-consumer baseline: `slow` needs one slow or
                // stalled member, so one "slow" member reads with no delay.
                (
                    "flood-baseline",
                    p.flood_baseline_duration,
                    strings(&FULL_SPEED),
                ),
            ] {
                let flood = RoomFlood {
                    conns: p.flood_conns,
                    senders: 1,
                    size: p.flood_size,
                    rate: p.flood_rate,
                    duration,
                    warmup: p.flood_warmup,
                    drain: p.drain,
                };
                let args = flood.args(&extra);
                runs.push(Run::new(
                    Scenario::Reliability,
                    server,
                    case,
                    "/ws/room/flood",
                    "slow",
                    args,
                ));
            }
        }
        let churn = strings(&[
            "--cycles",
            &p.churn_cycles.to_string(),
            "--rounds",
            &p.churn_rounds.to_string(),
            "--abrupt-fraction",
            p.churn_abrupt,
            "--mid-message-fraction",
            p.churn_mid_message,
        ]);
        let mut routes = vec![("churn-echo", "/ws/echo")];
        if server.rooms {
            routes.push(("churn-room", "/ws/room/churn"));
        }
        for (case, route) in routes {
            runs.push(Run {
                metrics: true,
                ..Run::new(
                    Scenario::Reliability,
                    server,
                    case,
                    route,
                    "churn",
                    churn.clone(),
                )
            });
        }
        let max = p.badinput_max_message_size.to_string();
        runs.push(Run {
            server_args: strings(&["--max-message-size", &max]),
            server_pid: false,
            ..Run::new(
                Scenario::Reliability,
                server,
                "badinput",
                "/ws/echo",
                "badinput",
                strings(&["--max-message-size", &max]),
            )
        });
        // A closed-loop echo flood meant to outlast the SIGTERM by far: it
        // ends when the server closes its connections.
        runs.push(Run {
            server_args: strings(&["--shutdown-grace", p.shutdown_grace]),
            server_pid: false,
            sigterm_after: Some(p.shutdown_after),
            ..Run::new(
                Scenario::Reliability,
                server,
                "shutdown",
                "/ws/echo",
                "echo",
                strings(&[
                    "--conns",
                    &p.shutdown_conns.to_string(),
                    "--warmup",
                    "0s",
                    "--duration",
                    "30s",
                    "--drain-timeout",
                    "1s",
                ]),
            )
        });
    }
    let hostile_round: Vec<Run> = CONTENDERS
        .iter()
        .map(|server| hostile(p, *server))
        .collect();
    runs.extend(interleaved(p.hostile_repeats, &hostile_round));
    runs
}

/// Reliability, hostile clients: the server's `--max-inbound-bytes`, small
/// so that the attack is quick (the default is 256 MiB).
const HOSTILE_BUDGET: usize = 64 << 20;

/// The length the attackers' frames announce: the server's
/// `--max-message-size` in this run.
const HOSTILE_DECLARED: usize = 32 << 20;

/// What each attacker sends of its message: 31 MiB, as in issue 15 (9
/// attackers hold 279 MiB, more than 4 times the budget; 8 held 3.9 times).
const HOSTILE_PARTIAL: usize = 31 << 20;

/// The server's `--handshake-timeout` in this run (the default is 5 s).
const HOSTILE_HANDSHAKE_TIMEOUT: &str = "2s";

/// Partial messages past the inbound budget, then slow requests, with a
/// canary echoing throughout (`ws-loadgen hostile`): a few seconds a server.
fn hostile(p: &Params, server: Contender) -> Run {
    let (budget, declared) = (HOSTILE_BUDGET.to_string(), HOSTILE_DECLARED.to_string());
    Run {
        server_args: strings(&[
            "--max-inbound-bytes",
            &budget,
            "--max-message-size",
            &declared,
            "--handshake-timeout",
            HOSTILE_HANDSHAKE_TIMEOUT,
        ]),
        ..Run::new(
            Scenario::Reliability,
            server,
            "hostile",
            "/ws/echo",
            "hostile",
            strings(&[
                "--attackers",
                &p.hostile_attackers.to_string(),
                "--partial",
                &HOSTILE_PARTIAL.to_string(),
                "--declared",
                &declared,
                "--budget",
                &budget,
                "--slow",
                &p.hostile_slow.to_string(),
                "--handshake-timeout",
                HOSTILE_HANDSHAKE_TIMEOUT,
            ]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_interleaved_and_every_run_names_its_flush() {
        let p = Params::full();
        let runs: Vec<Run> = runs(&p)
            .into_iter()
            .filter(|r| r.scenario == Scenario::Throughput)
            .collect();
        let round = p.throughput_inflight.len() * CONTENDERS.len() * FLUSH_MODES.len();
        assert_eq!(runs.len(), round * p.throughput_repeats as usize);
        // A B C …, A B C …: repeat k ends before repeat k + 1 starts, and
        // every round holds its own reference run.
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(run.repeat, Some(i as u32 / round as u32 + 1));
            let flush = run.flush.expect("a policy");
            assert!(run.server_args.windows(2).any(|w| w == ["--flush", flush]));
            assert_eq!(run.mode, Mode::Pinned);
        }
        for repeat in 1..=p.throughput_repeats {
            assert!(runs.iter().any(|r| r.repeat == Some(repeat)
                && r.server.name == crate::contenders::ECHO_REFERENCE
                && r.flush == Some(crate::contenders::BEST_FLUSH)));
        }
        let mut stems: Vec<String> = runs.iter().map(Run::stem).collect();
        stems.sort();
        stems.dedup();
        assert_eq!(stems.len(), runs.len(), "every run has its own files");
    }

    /// The contenders of one sliced case: every echo server in both flush modes.
    const SLICED: usize = CONTENDERS.len() * FLUSH_MODES.len();

    #[test]
    fn each_throughput_case_and_repeat_is_one_slice_group_of_every_contender() {
        for p in [Params::full(), Params::quick()] {
            let all = runs(&p);
            let mut seen = Vec::new();
            for step in steps(&all) {
                let first = &step[0];
                let Some(group) = &first.slice_group else {
                    assert_eq!(step.len(), 1);
                    assert!(
                        !matches!(first.scenario, Scenario::Throughput | Scenario::Replay),
                        "{} is not sliced",
                        first.stem()
                    );
                    continue;
                };
                // Consecutive: a group's runs form one step, never two.
                assert!(!seen.contains(group), "{group} is split");
                if first.scenario == Scenario::Memory {
                    // The idle profile's price: a server's two settings.
                    let cases: Vec<&str> = step.iter().map(|r| r.case.as_str()).collect();
                    assert_eq!(cases, [PROFILE_COST_DEFAULT, PROFILE_COST_IDLE], "{group}");
                    assert!(step.iter().all(|r| r.server.name == first.server.name
                        && r.args == first.args
                        && r.repeat == first.repeat));
                    continue;
                }
                seen.push(group.clone());
                assert_eq!(step.len(), SLICED, "{group}");
                let mut members: Vec<(&str, Option<&str>)> =
                    step.iter().map(|r| (r.server.name, r.flush)).collect();
                members.sort_unstable();
                members.dedup();
                assert_eq!(members.len(), SLICED, "{group}: every contender once");
                for run in step {
                    assert!(matches!(
                        run.scenario,
                        Scenario::Throughput | Scenario::Replay
                    ));
                    assert_eq!(
                        (run.scenario, run.repeat, &run.args, run.mode),
                        (first.scenario, first.repeat, &first.args, first.mode)
                    );
                    assert!(run.case.ends_with(group.split('/').nth(1).unwrap_or("?")));
                    assert!(!run.metrics && run.sigterm_after.is_none() && run.rate_of.is_none());
                }
                assert!(
                    first
                        .args
                        .windows(2)
                        .any(|w| w == ["--slice", p.throughput_slice]),
                    "{:?}",
                    first.args
                );
            }
            // Every repeat of both series has a group per in-flight case.
            for scenario in [Scenario::Throughput, Scenario::Replay] {
                for repeat in 1..=p.throughput_repeats {
                    for inflight in &p.throughput_inflight {
                        let key = format!("{}/inflight-{inflight}/r{repeat}", scenario.dir());
                        assert!(seen.contains(&key), "no {key}");
                    }
                }
            }
            assert_eq!(
                seen.len(),
                2 * p.throughput_inflight.len() * p.throughput_repeats as usize
            );
        }
    }

    /// `ws-loadgen echo --slice`'s shortest slice (`slicing::MIN_SLICE`).
    const MIN_SLICE: std::time::Duration = std::time::Duration::from_millis(10);

    #[test]
    fn the_sliced_runs_pass_the_generators_validation() {
        for p in [Params::full(), Params::quick()] {
            let parse = |s: &str| humantime::parse_duration(s).expect(s);
            let slice = parse(p.throughput_slice);
            let round = slice * SLICED as u32;
            assert!(slice >= MIN_SLICE, "{slice:?}");
            // Every contender warms up, and gets the same share of the window.
            assert!(parse(p.throughput_warmup) >= round);
            let duration = parse(p.throughput_duration);
            assert!(duration >= round);
            assert_eq!(duration.as_nanos() % round.as_nanos(), 0, "{duration:?}");
            // The idle profile's price: two settings by turns.
            let pair = slice * 2;
            assert!(parse(p.profile_cost_warmup) >= pair);
            let duration = parse(p.profile_cost_duration);
            assert_eq!(duration.as_nanos() % pair.as_nanos(), 0, "{duration:?}");
            // The load curve of repeat r takes its maxima from throughput repeat r.
            assert!(p.throughput_repeats >= p.repeats);
        }
        let full = Params::full();
        assert_eq!((full.throughput_repeats, full.repeats), (5, 3));
    }

    #[test]
    fn every_load_level_takes_its_maximum_from_an_earlier_run_of_its_repeat() {
        let p = Params::full();
        let all = runs(&p);
        let curve: Vec<(usize, &Run)> = all
            .iter()
            .enumerate()
            .filter(|(_, r)| r.scenario == Scenario::LoadCurve)
            .collect();
        let points = p.load_levels.len() + 1;
        assert_eq!(
            curve.len(),
            CONTENDERS.len() * FLUSH_MODES.len() * points * p.repeats as usize
        );
        let mut levelled = 0;
        for (i, run) in &curve {
            assert_eq!(run.mode, Mode::Pinned);
            let Some(source) = run.rate_source() else {
                // The fixed rate: set in the plan, the same for every server.
                assert_eq!(run.rate, Some(f64::from(p.load_fixed_rate)));
                assert!(!run.args.iter().any(|a| a == RATE_PLACEHOLDER));
                continue;
            };
            levelled += 1;
            assert!(run.args.iter().any(|a| a == RATE_PLACEHOLDER));
            let (j, _) = all
                .iter()
                .enumerate()
                .find(|(_, r)| r.stem() == source)
                .unwrap_or_else(|| panic!("{source} is not planned"));
            assert!(j < *i, "{source} runs after {}", run.stem());
            assert_eq!(all[j].repeat, run.repeat);
            assert_eq!(all[j].flush, run.flush);
            assert_eq!(all[j].server.name, run.server.name);
        }
        assert_eq!(levelled, curve.len() / points * p.load_levels.len());
    }

    #[test]
    fn a_known_rate_replaces_the_placeholder() {
        let p = Params::full();
        let run = runs(&p)
            .into_iter()
            .find(|r| r.rate_of.is_some())
            .expect("a load level");
        let resolved = run.with_rate(12_345);
        assert!(resolved.args.windows(2).any(|w| w == ["--rate", "12345"]));
        assert_eq!(resolved.rate, Some(12_345.0));
        assert_eq!(resolved.stem(), run.stem());
    }

    #[test]
    fn saturation_covers_every_room_server_in_both_modes() {
        let p = Params::full();
        let runs: Vec<Run> = runs(&p)
            .into_iter()
            .filter(|r| r.scenario == Scenario::Saturation)
            .collect();
        let rooms = CONTENDERS.iter().filter(|c| c.rooms).count();
        assert_eq!(
            runs.len(),
            rooms * FLUSH_MODES.len() * p.saturation_rates.len() * p.saturation_repeats as usize
        );
        assert!(
            runs.iter()
                .all(|r| r.server.rooms && r.subcommand == "room")
        );
    }

    #[test]
    fn large_rooms_cover_every_room_server_at_each_size_in_every_memory_repeat() {
        let p = Params::full();
        let value = |run: &Run, flag: &str| -> usize {
            let at = run.args.iter().position(|a| a == flag).expect(flag);
            run.args[at + 1].parse().expect("a number")
        };
        let runs: Vec<Run> = runs(&p)
            .into_iter()
            .filter(|r| r.case.starts_with(LARGE_ROOM))
            .collect();
        let rooms = CONTENDERS.iter().filter(|c| c.rooms).count();
        assert_eq!(
            runs.len(),
            rooms * p.large_room_sizes.len() * p.repeats as usize
        );
        for run in &runs {
            assert!(
                run.server.rooms && run.subcommand == "room",
                "{}",
                run.stem()
            );
            assert_eq!(run.scenario, Scenario::Memory);
            let members = value(run, "--conns");
            assert!(p.large_room_sizes.contains(&members));
            assert_eq!(run.case, format!("{LARGE_ROOM}{members}"));
            assert_eq!(value(run, "--senders"), 1);
            // The same deliveries per second offered at every size.
            assert_eq!(value(run, "--rate") * members, p.large_room_deliveries);
            // Under the 20,000 open files of each process, with the server's
            // own listener and the generator's files to spare.
            assert!(members < 19_500);
        }
        for repeat in 1..=p.repeats {
            assert_eq!(
                runs.iter().filter(|r| r.repeat == Some(repeat)).count(),
                rooms * p.large_room_sizes.len()
            );
        }
    }

    /// Seconds a slow-reader run takes beyond its arguments' durations,
    /// pessimistically: starting and stopping the server, joining the room,
    /// saving `/metrics`, and the stalled member's 2 s drain.
    const OVERHEAD_S: f64 = 4.0;

    fn slow_s(runs: &[Run]) -> f64 {
        runs.iter()
            .map(|r| super::super::load_bound(&r.args).as_secs_f64() + OVERHEAD_S)
            .sum()
    }

    #[test]
    fn the_slow_reader_runs_fit_their_budget() {
        // The budget: about 7 minutes of the full run for its one
        // pass of the sweep and the detection rooms. Three interleaved
        // repeats are paid with shorter runs (see the README's budget):
        // a repeat takes under 6 minutes, all three under 18, and with the
        // slow-consumer repeats under 27, pessimistically; a quick run
        // stays a smoke test.
        let full = Params::full();
        let readers = slow_s(&slow_readers(&full));
        let repeat = readers / f64::from(full.slow_repeats);
        assert!(repeat <= 6.0 * 60.0, "{repeat} s a repeat");
        assert!(readers <= 18.0 * 60.0, "{readers} s");
        let both = readers + slow_s(&slow(&full));
        assert!(both <= 27.0 * 60.0, "{both} s with the slow-consumer runs");
        let quick = slow_s(&slow_readers(&Params::quick()));
        assert!(quick <= 120.0, "{quick} s");
    }

    #[test]
    fn slow_consumer_and_slow_reader_repeats_are_interleaved() {
        let p = Params::full();
        assert_eq!(p.slow_repeats, 3);
        assert_eq!(Params::quick().slow_repeats, 1);
        let rooms = CONTENDERS.iter().filter(|c| c.rooms).count();
        for (runs, cases) in [(slow(&p), 3), (slow_readers(&p), p.sweep_paces.len() + 2)] {
            let round = rooms * cases;
            assert_eq!(runs.len(), round * p.slow_repeats as usize);
            // A B C …, A B C …: repeat k ends before repeat k + 1 starts,
            // and every round is the same runs in the same order.
            for (i, run) in runs.iter().enumerate() {
                assert_eq!(
                    run.repeat,
                    Some(i as u32 / round as u32 + 1),
                    "{}",
                    run.stem()
                );
                assert!(run.stem().ends_with(&format!("-r{}", i / round + 1)));
                let first = &runs[i % round];
                assert_eq!(
                    (run.server.name, &run.case, &run.args),
                    (first.server.name, &first.case, &first.args)
                );
            }
            // Within a round, servers alternate case by case.
            assert_ne!(runs[0].server.name, runs[1].server.name);
            let mut stems: Vec<String> = runs.iter().map(Run::stem).collect();
            stems.sort();
            stems.dedup();
            assert_eq!(stems.len(), runs.len(), "every run has its own files");
        }
        // The whole plan holds them, and nothing else of theirs.
        let all = runs(&p);
        for scenario in [Scenario::Slow, Scenario::SlowReaders] {
            assert!(
                all.iter()
                    .filter(|r| r.scenario == scenario)
                    .all(|r| r.repeat.is_some())
            );
        }
        assert_eq!(
            all.iter().filter(|r| r.scenario == Scenario::Slow).count(),
            slow(&p).len()
        );
    }

    #[test]
    fn every_room_server_gets_every_pace_and_both_detection_rooms() {
        let p = Params::full();
        let runs = slow_readers(&p);
        let rooms = CONTENDERS.into_iter().filter(|c| c.rooms).count();
        let repeats = p.slow_repeats as usize;
        assert_eq!(runs.len(), rooms * (p.sweep_paces.len() + 2) * repeats);
        assert!(
            runs.iter()
                .all(|r| r.metrics && r.scenario == Scenario::SlowReaders)
        );
        let paced: Vec<&Run> = runs
            .iter()
            .filter(|r| r.case == format!("{PACE_CASE}80"))
            .collect();
        assert_eq!(paced.len(), rooms * repeats);
        assert!(
            paced[0]
                .args
                .windows(2)
                .any(|w| w == ["--slow-pace", "0.8"]),
            "{:?}",
            paced[0].args
        );
        for case in [DETECT_QUIET, DETECT_BUSY] {
            let r = runs.iter().find(|r| r.case == case).expect(case);
            assert!(
                r.args.windows(2).any(|w| w == ["--stalled", "1"]),
                "{:?}",
                r.args
            );
        }
    }

    #[test]
    fn heartbeat_runs_are_interleaved_and_ping_on_both_ends() {
        let p = Params::full();
        let runs = heartbeat(&p);
        let rooms = CONTENDERS.iter().filter(|c| c.rooms).count();
        let round = CONTENDERS.len() * (1 + FLUSH_MODES.len()) + rooms;
        assert_eq!(runs.len(), round * p.heartbeat_repeats as usize);
        assert!(p.heartbeat_repeats >= 2, "ranges need repeats");
        let ping = ["--ping-interval", p.heartbeat_ping_interval];
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(run.scenario, Scenario::Heartbeat);
            assert_eq!(run.mode, Mode::Pinned);
            // A B C …, A B C …: every round the same runs in the same order.
            assert_eq!(run.repeat, Some(i as u32 / round as u32 + 1));
            let first = &runs[i % round];
            assert_eq!(
                (run.server.name, &run.case, &run.args),
                (first.server.name, &first.case, &first.args)
            );
            assert!(run.server_args.windows(2).any(|w| w == ping), "{run:?}");
            assert!(run.args.windows(2).any(|w| w == ping), "{run:?}");
        }
        let case =
            |c: &str| runs.iter().filter(|r| r.case == c).count() / p.heartbeat_repeats as usize;
        assert_eq!(case(HEARTBEAT_IDLE), CONTENDERS.len());
        assert_eq!(case(HEARTBEAT_STALLED), rooms);
        for flush in FLUSH_MODES {
            assert_eq!(
                case(&format!("{flush}-{HEARTBEAT_FLOOD}")),
                CONTENDERS.len()
            );
        }
        assert!(
            runs.iter()
                .filter(|r| r.case == HEARTBEAT_STALLED)
                .all(|r| r.server.rooms && r.args.windows(2).any(|w| w == ["--stalled", "1"]))
        );
        let mut stems: Vec<String> = runs.iter().map(Run::stem).collect();
        stems.sort();
        stems.dedup();
        assert_eq!(stems.len(), runs.len(), "every run has its own files");
        // The budget for it: about 2.5 minutes of the full plan.
        let s = super::super::estimate(&runs).total_s();
        assert!(s <= 2.6 * 60.0, "{s} s");
        assert_eq!(
            super::runs(&p)
                .iter()
                .filter(|r| r.scenario == Scenario::Heartbeat)
                .count(),
            runs.len()
        );
    }
}
