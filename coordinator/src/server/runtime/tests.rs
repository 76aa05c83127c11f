//! The runtime without networking, driven as agents would drive it: work that keeps
//! failing fails its experiment, naming the work; expiries and shutdowns do not count.

use super::Runtime;
use crate::server::Limits;
use crate::server::kinds::Ready;
use crate::spec::Spec;
use pathnet_proto::v1;
use std::num::NonZeroU32;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(60);

fn runtime() -> Runtime {
    Runtime::new(Limits {
        max_message_bytes: 1 << 20,
        lease_duration: LEASE,
        heartbeat_interval: Duration::from_secs(10),
        ..Limits::default()
    })
}

/// A runtime serving a small neuroevolution experiment, with one agent taking `slots`
/// leases at a time.
fn neuroevolution(slots: u32) -> (Runtime, String) {
    let mut rt = runtime();
    let spec = r#"
kind = "neuroevolution"
name = "failing"
seed = 4
[ga]
task = "parity"
operator = "sm_g_sum"
sigma = 0.005
population = 8
tournament_size = 2
max_evaluations = 1000
"#;
    let Spec::Neuroevolution(spec) = Spec::from_toml(spec).unwrap() else {
        panic!("a neuroevolution spec");
    };
    rt.start(Ready::load(Spec::Neuroevolution(spec)).unwrap())
        .unwrap();
    let agent = joined(&mut rt, slots);
    (rt, agent)
}

fn joined(rt: &mut Runtime, slots: u32) -> String {
    let agent = rt.join().agent_id;
    rt.open_stream(&agent, slots).unwrap();
    agent
}

fn lease(rt: &mut Runtime, agent: &str) -> v1::WorkItem {
    rt.next_work(agent).unwrap().expect("work to lease")
}

fn release(rt: &mut Runtime, agent: &str, work: &str, reason: v1::ReleaseReason, detail: &str) {
    let answer = rt
        .release(&v1::ReleaseLeasesRequest {
            agent_id: agent.to_owned(),
            work_ids: vec![work.to_owned()],
            reason: reason.into(),
            detail: detail.to_owned(),
        })
        .unwrap();
    assert_eq!(answer.released, [work], "the lease was held");
}

/// The agent hands `work` back as failed: what counts against the work.
fn fail(rt: &mut Runtime, agent: &str, work: &str, detail: &str) {
    release(rt, agent, work, v1::ReleaseReason::Failed, detail);
}

fn report(rt: &mut Runtime, agent: &str, work: &str, fitness: f64) -> Result<(), tonic::Status> {
    report_solved(rt, agent, work, fitness, false).map(|_| ())
}

fn report_solved(
    rt: &mut Runtime,
    agent: &str,
    work: &str,
    fitness: f64,
    solved: bool,
) -> Result<v1::ResultDisposition, tonic::Status> {
    rt.report(&v1::ReportResultRequest {
        agent_id: agent.to_owned(),
        work_id: work.to_owned(),
        fitness,
        evaluation: Some(v1::EvaluationStats {
            solved: Some(solved),
            ..Default::default()
        }),
        ..Default::default()
    })
    .map(|answer| answer.disposition())
}

fn error(rt: &Runtime) -> Option<String> {
    rt.current_error()
}

#[test]
fn an_evaluation_failing_three_times_fails_the_experiment_and_expiries_do_not_count() {
    let (mut rt, agent) = neuroevolution(1);
    let first = lease(&mut rt, &agent);
    fail(&mut rt, &agent, &first.work_id, "disk on fire");

    // Re-queued work is issued first: the same genome, under a new work id.
    let second = lease(&mut rt, &agent);
    assert_eq!(second.payload, first.payload);
    assert_ne!(second.work_id, first.work_id);
    // Its lease expires (its agent went silent for a while): not the work's fault.
    let later = rt.now().plus(LEASE + Duration::from_millis(1));
    assert!(rt.tick_at(later));
    assert!(rt.leases.outstanding() == 0);

    // The agent leaves cleanly holding it: not the work's fault either.
    let third = lease(&mut rt, &agent);
    assert_eq!(third.payload, first.payload);
    release(
        &mut rt,
        &agent,
        &third.work_id,
        v1::ReleaseReason::Shutdown,
        "stopping",
    );
    let agent = joined(&mut rt, 1);

    let fourth = lease(&mut rt, &agent);
    assert_eq!(fourth.payload, first.payload);
    let refused = report(&mut rt, &agent, &fourth.work_id, f64::NAN).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(error(&rt), None, "two failures so far");

    let fifth = lease(&mut rt, &agent);
    assert_eq!(fifth.payload, first.payload);
    fail(&mut rt, &agent, &fifth.work_id, "disk still on fire");

    let error = error(&rt).expect("the experiment failed");
    for part in [
        "the experiment failed: neuroevolution evaluation 0 (genome with initial seed",
        "failed 3 times",
        "--max-failures-per-work",
        &format!("on agent `{agent}`: disk still on fire"),
    ] {
        assert!(error.contains(part), "no `{part}` in: {error}");
    }
    let exp = rt.slot.current().unwrap();
    assert!(!exp.run.is_running());
    let id = exp.id.clone();
    let status = rt.status(&id).unwrap();
    assert_eq!(status.state(), v1::ExperimentState::Failed);
    assert_eq!(status.error, error);
    assert!(
        rt.next_work(&agent).unwrap().is_none(),
        "nothing more is handed out"
    );
    assert_eq!(rt.metrics_snapshot().work_failures, 3);
}

#[test]
fn failures_count_per_evaluation_and_a_success_clears_them() {
    let (mut rt, agent) = neuroevolution(2);
    // Two evaluations fail twice each: four failures, none of them the third of its work.
    let mut failed = Vec::new();
    for _ in 0..2 {
        let items = [lease(&mut rt, &agent), lease(&mut rt, &agent)];
        for item in &items {
            failed.push(what(&rt, &agent, &item.work_id));
            fail(&mut rt, &agent, &item.work_id, "flaky");
        }
    }
    assert_eq!(error(&rt), None);
    failed.sort();
    failed.dedup();
    assert_eq!(
        failed.len(),
        2,
        "the same two evaluations were re-issued: {failed:?}"
    );
    // One succeeds at its third try, the other fails a third time.
    let done = lease(&mut rt, &agent);
    report(&mut rt, &agent, &done.work_id, -1.0).unwrap();
    let doomed = lease(&mut rt, &agent);
    let doomed_what = what(&rt, &agent, &doomed.work_id);
    assert!(failed.contains(&doomed_what), "{doomed_what}");
    fail(&mut rt, &agent, &doomed.work_id, "flaky");
    let error = error(&rt).expect("the other evaluation failed a third time");
    assert!(
        error.contains(&format!("{doomed_what} failed 3 times")),
        "{error}"
    );
}

/// How the runtime names the work leased as `work`.
fn what(rt: &Runtime, agent: &str, work: &str) -> String {
    let lease = rt.leases.check(agent, work, rt.now()).unwrap();
    lease.item.what.to_string()
}

#[test]
fn the_limit_is_configurable() {
    let (mut rt, agent) = neuroevolution(1);
    rt.set_max_failures_per_work(NonZeroU32::new(1).unwrap());
    let item = lease(&mut rt, &agent);
    release(
        &mut rt,
        &agent,
        &item.work_id,
        v1::ReleaseReason::Unsupported,
        "old agent",
    );
    assert_eq!(
        error(&rt),
        None,
        "an agent lacking a kind of work says nothing of it"
    );
    let item = lease(&mut rt, &agent);
    fail(&mut rt, &agent, &item.work_id, "once");
    let error = error(&rt).expect("one failure is the limit");
    assert!(
        error.contains("failed 1 time (") && error.contains("once"),
        "{error}"
    );
}

/// A3C workers are replaced, not re-issued: failed worker leases in a row count.
#[test]
fn worker_leases_failing_in_a_row_fail_the_experiment() {
    let mut rt = runtime();
    let spec = "kind = \"a3c\"\nname = \"t\"\nmax_workers = 1\n[a3c]\nenv = \"CartPole-v1\"\n";
    rt.start(Ready::load(Spec::from_toml(spec).unwrap()).unwrap())
        .unwrap();
    let agent = joined(&mut rt, 1);
    for _ in 0..2 {
        let worker = lease(&mut rt, &agent);
        fail(&mut rt, &agent, &worker.work_id, "env crashed");
    }
    // A worker that finishes ends the streak.
    let worker = lease(&mut rt, &agent);
    report(&mut rt, &agent, &worker.work_id, 0.0).unwrap();
    for _ in 0..2 {
        let worker = lease(&mut rt, &agent);
        fail(&mut rt, &agent, &worker.work_id, "env crashed");
    }
    assert_eq!(error(&rt), None);
    let worker = lease(&mut rt, &agent);
    fail(&mut rt, &agent, &worker.work_id, "env crashed again");
    let error = error(&rt).expect("three worker leases failed in a row");
    for part in [
        "3 a3c worker leases failed in a row",
        "a3c worker 5 on agent",
        "env crashed again",
    ] {
        assert!(error.contains(part), "no `{part}` in: {error}");
    }
}

/// One agent failing everything must not fail the experiment while another can do the work:
/// what it failed goes to the other, and after three failures in a row it gets nothing new.
#[test]
fn a_broken_agent_is_quarantined_and_its_failed_work_goes_to_another() {
    let (mut rt, broken) = neuroevolution(1);
    let healthy = joined(&mut rt, 1);
    let first = lease(&mut rt, &broken);
    fail(&mut rt, &broken, &first.work_id, "no such file");
    // The re-queued evaluation is left for the healthy agent.
    let second = lease(&mut rt, &broken);
    assert_ne!(second.payload, first.payload);
    fail(&mut rt, &broken, &second.work_id, "no such file");
    let third = lease(&mut rt, &broken);
    assert_ne!(third.payload, first.payload);
    assert_ne!(third.payload, second.payload);
    fail(&mut rt, &broken, &third.work_id, "no such file");
    assert_eq!(rt.failures.quarantined(rt.agents.records()), 1);
    assert!(
        rt.next_work(&broken).unwrap().is_none(),
        "a quarantined agent gets no new work"
    );

    // The healthy agent does all three, oldest first, and the experiment goes on.
    for failed in [&first, &second, &third] {
        let item = lease(&mut rt, &healthy);
        assert_eq!(item.payload, failed.payload);
        report(&mut rt, &healthy, &item.work_id, -1.0).unwrap();
    }
    assert_eq!(error(&rt), None);
    assert_eq!(rt.metrics_snapshot().agents_quarantined, 1);

    // With the healthy agent gone, the quarantined one is all there is: it works again,
    // and a success ends its quarantine.
    let held = lease(&mut rt, &healthy);
    release(
        &mut rt,
        &healthy,
        &held.work_id,
        v1::ReleaseReason::Shutdown,
        "stopping",
    );
    let item = lease(&mut rt, &broken);
    assert_eq!(item.payload, held.payload);
    report(&mut rt, &broken, &item.work_id, -1.0).unwrap();
    assert_eq!(rt.failures.quarantined(rt.agents.records()), 0);
    let _newcomer = joined(&mut rt, 1);
    lease(&mut rt, &broken);
}

/// Broken work still fails the experiment: it fails on one agent after another.
#[test]
fn work_failing_on_every_agent_fails_the_experiment() {
    let (mut rt, a) = neuroevolution(1);
    let b = joined(&mut rt, 1);
    let c = joined(&mut rt, 1);
    let first = lease(&mut rt, &a);
    fail(&mut rt, &a, &first.work_id, "bad genome on a");
    let on_b = lease(&mut rt, &b);
    assert_eq!(on_b.payload, first.payload, "passed over by a, taken by b");
    fail(&mut rt, &b, &on_b.work_id, "bad genome on b");
    // a and b failed it; c has not.
    let other = lease(&mut rt, &a);
    assert_ne!(other.payload, first.payload);
    let on_c = lease(&mut rt, &c);
    assert_eq!(on_c.payload, first.payload);
    assert_eq!(error(&rt), None);
    fail(&mut rt, &c, &on_c.work_id, "bad genome on c");
    let error = error(&rt).expect("failed on three agents");
    assert!(
        error.contains("failed 3 times") && error.contains("bad genome on c"),
        "{error}"
    );
    assert_eq!(
        rt.failures.quarantined(rt.agents.records()),
        0,
        "no agent failed three in a row"
    );
}

/// A client that joined without opening a lease stream takes no work: failed work is not
/// held back for it.
#[test]
fn only_agents_streaming_leases_count_as_another_to_take_the_work() {
    let (mut rt, agent) = neuroevolution(1);
    let _watcher = rt.join().agent_id;
    let first = lease(&mut rt, &agent);
    fail(&mut rt, &agent, &first.work_id, "flaky");
    let again = lease(&mut rt, &agent);
    assert_eq!(again.payload, first.payload);
}

/// An agent whose lease streams have all closed (it died, or left without a word) takes no
/// work either: failed work is not held back for it.
#[test]
fn agents_whose_streams_closed_do_not_count_as_another_to_take_the_work() {
    let (mut rt, agent) = neuroevolution(1);
    let dead = joined(&mut rt, 1);
    rt.stream_closed(&dead);
    let first = lease(&mut rt, &agent);
    fail(&mut rt, &agent, &first.work_id, "flaky");
    let again = lease(&mut rt, &agent);
    assert_eq!(
        again.payload, first.payload,
        "not held back for a dead agent"
    );
}

/// While every agent with room finds work, a result wakes its own agent's lease streams,
/// not every stream; once one found none, a result wakes them all, since it may have made
/// work.
#[test]
fn a_result_wakes_its_own_agent_unless_another_agent_lacks_work() {
    let (mut rt, _idle) = neuroevolution(1);
    let a = rt.join().agent_id;
    let mut wake_a = rt.open_stream(&a, 1).unwrap();
    let b = rt.join().agent_id;
    let mut wake_b = rt.open_stream(&b, 1).unwrap();
    let on_a = lease(&mut rt, &a);
    lease(&mut rt, &b);
    assert!(rt.next_work(&a).unwrap().is_none(), "a is full");
    rt.take_dirty();
    wake_a.mark_unchanged();
    wake_b.mark_unchanged();
    report(&mut rt, &a, &on_a.work_id, -0.5).unwrap();
    assert!(!rt.take_dirty(), "no stream but a's is woken");
    assert!(wake_a.has_changed().unwrap());
    assert!(!wake_b.has_changed().unwrap());

    let c = rt.join().agent_id;
    rt.open_stream(&c, 1).unwrap();
    rt.take_dirty();
    // As if c's last offer found nothing it could take (say, all left was held back
    // from it).
    rt.starved.insert(c.clone());
    let again = lease(&mut rt, &a);
    report(&mut rt, &a, &again.work_id, -0.5).unwrap();
    assert!(rt.take_dirty(), "every stream is woken while c lacks work");
}

/// A runtime serving a small Sideways run of 2 stages whose spec adds `placement`.
fn sideways(placement: &str) -> Runtime {
    // A snapshot of the default network is a few MiB.
    let mut rt = Runtime::new(Limits {
        max_message_bytes: 64 << 20,
        lease_duration: LEASE,
        heartbeat_interval: Duration::from_secs(10),
        ..Limits::default()
    });
    let spec = format!(
        "kind = \"sideways\"\nname = \"placed\"\nsnapshot_every = 2\n{placement}\n\
         [sideways]\nstages = 2\nbatches = 4\n"
    );
    rt.start(Ready::load(Spec::from_toml(&spec).unwrap()).unwrap())
        .unwrap();
    rt
}

/// An agent with `labels` serving stage links at `address` (empty: none), streaming.
fn joined_host(rt: &mut Runtime, address: &str, labels: &[(&str, &str)]) -> String {
    let agent = rt
        .join_with(&v1::JoinRequest {
            capabilities: Some(v1::AgentCapabilities {
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            }),
            stage_link_address: address.to_owned(),
        })
        .agent_id;
    rt.open_stream(&agent, 1).unwrap();
    agent
}

fn segment(item: &v1::WorkItem) -> &v1::SidewaysSegment {
    match &item.payload {
        Some(v1::work_item::Payload::SidewaysSegment(segment)) => segment,
        other => panic!("a Sideways segment, not {other:?}"),
    }
}

fn heartbeat(rt: &mut Runtime, agent: &str) {
    rt.heartbeat(&v1::HeartbeatRequest {
        agent_id: agent.to_owned(),
        work_ids: Vec::new(),
    })
    .unwrap();
}

#[test]
fn without_placement_a_segment_goes_to_the_asking_agent_alone() {
    let mut rt = sideways("");
    let agent = joined_host(&mut rt, "127.0.0.1:7001", &[]);
    let _other = joined_host(&mut rt, "127.0.0.1:7002", &[]);
    let item = lease(&mut rt, &agent);
    let segment = segment(&item);
    assert!(segment.stage_hosts.is_empty() && segment.stage_host_addresses.is_empty());
}

#[test]
fn a_placed_segment_waits_for_enough_stage_hosts_and_goes_out_with_their_addresses() {
    let mut rt = sideways("stage_hosts = 2");
    let driver = joined_host(&mut rt, "127.0.0.1:7001", &[]);
    assert!(
        rt.next_work(&driver).unwrap().is_none(),
        "no stage host yet"
    );
    // Serving no stage links, or joined without a lease stream: not a host.
    let _plain = joined_host(&mut rt, "", &[]);
    let silent = rt
        .join_with(&v1::JoinRequest {
            stage_link_address: "127.0.0.1:7009".into(),
            ..Default::default()
        })
        .agent_id;
    assert!(rt.next_work(&driver).unwrap().is_none());
    let host = joined_host(&mut rt, "127.0.0.1:7002", &[]);
    let item = lease(&mut rt, &driver);
    let placed = segment(&item);
    assert_eq!(placed.stage_hosts, [0, 1]);
    assert_eq!(placed.stage_host_addresses, ["127.0.0.1:7002"]);
    assert!(
        rt.next_work(&host).unwrap().is_none(),
        "one segment at a time"
    );

    // The host dies mid-segment: the driver hands the lease back as "peer lost". The
    // segment goes out again, unchanged, counted as no failure, and not to the lost host.
    release(
        &mut rt,
        &driver,
        &item.work_id,
        v1::ReleaseReason::PeerLost,
        "link broke",
    );
    assert_eq!(error(&rt), None);
    assert!(
        rt.next_work(&driver).unwrap().is_none(),
        "the lost host is passed over"
    );
    // Its lease stream asking (the coordinator's own task, maybe for a dead agent) neither
    // makes it the driver nor lifts the suspicion.
    assert!(rt.next_work(&host).unwrap().is_none());
    assert!(rt.next_work(&driver).unwrap().is_none());
    let replacement = joined_host(&mut rt, "127.0.0.1:7003", &[]);
    let again = lease(&mut rt, &driver);
    assert_eq!(segment(&again).stage_host_addresses, ["127.0.0.1:7003"]);
    assert_eq!(segment(&again).segment, placed.segment);
    assert_eq!(segment(&again).snapshot, placed.snapshot);
    release(
        &mut rt,
        &driver,
        &again.work_id,
        v1::ReleaseReason::PeerLost,
        "again",
    );
    // A suspected host heard from again may host once more.
    heartbeat(&mut rt, &host);
    let third = lease(&mut rt, &driver);
    assert_eq!(segment(&third).stage_host_addresses, ["127.0.0.1:7002"]);
    let c = rt.slot.current().unwrap().run.counters();
    assert_eq!((c.evaluations_requeued, c.results_refused), (2, 0));
    let _ = (silent, replacement);
}

#[test]
fn placed_stages_go_to_agents_with_the_labels_their_spec_asks_for() {
    let mut rt = sideways("stage_hosts = 2\nplace = [\"role=driver\", \"device=cuda\"]");
    let cpu = joined_host(&mut rt, "127.0.0.1:7001", &[("device", "cpu")]);
    let gpu = joined_host(&mut rt, "127.0.0.1:7002", &[("device", "cuda")]);
    assert!(
        rt.next_work(&cpu).unwrap().is_none(),
        "host 0 needs role=driver"
    );
    assert!(rt.next_work(&gpu).unwrap().is_none());
    let driver = joined_host(&mut rt, "", &[("role", "driver")]);
    let item = lease(&mut rt, &driver);
    assert_eq!(segment(&item).stage_host_addresses, ["127.0.0.1:7002"]);
}

/// A safe-mutation PathNet task's end is a phase's end, saved at once: its arms report no
/// `TaskFinished`, the next task's start says it.
#[test]
fn a_sm_pathnet_task_ending_makes_a_save_due() {
    let mut rt = Runtime::with_incarnation(
        Limits {
            lease_duration: LEASE,
            ..Limits::default()
        },
        1,
        true,
    );
    let spec = r#"
kind = "sm_pathnet"
name = "phases"
seed = 2
[sm_pathnet]
envs = ["CartPole-v1", "Acrobot-v1"]
layers = 2
modules = 3
max_active = 1
units = 4
episodes = 1
experience = 4
selection = "binary"
population = 2
operator = "control"
evaluations_per_task = 4
"#;
    rt.start(Ready::load(Spec::from_toml(spec).unwrap()).unwrap())
        .unwrap();
    rt.take_events();
    assert!(rt.take_checkpoint_due(), "an experiment started");
    let agent = joined(&mut rt, 1);
    for n in 1..=4 {
        let item = lease(&mut rt, &agent);
        report(&mut rt, &agent, &item.work_id, -(n as f64)).unwrap();
        rt.take_events();
        assert_eq!(rt.take_checkpoint_due(), n == 4, "after evaluation {n}");
    }
}

#[test]
fn a_result_that_arrives_after_another_solved_the_run_is_stale_not_refused() {
    let (mut rt, agent) = neuroevolution(2);
    let first = lease(&mut rt, &agent);
    let second = lease(&mut rt, &agent);
    let solved = report_solved(&mut rt, &agent, &first.work_id, 0.0, true).unwrap();
    assert_eq!(solved, v1::ResultDisposition::Accepted);
    assert!(!rt.slot.current().unwrap().run.is_running());

    let late = report_solved(&mut rt, &agent, &second.work_id, -1.0, false).unwrap();
    assert_eq!(late, v1::ResultDisposition::Stale);
    let leases = rt.leases.counters();
    assert_eq!((leases.refused, leases.cancelled), (0, 1), "{leases:?}");
    assert_eq!(error(&rt), None);
    assert_eq!(rt.metrics_snapshot().work_failures, 0);
}

/// A runtime serving a small PathNet experiment on Fashion-MNIST, with one agent that takes
/// parameters with its leases if `inline`.
fn pathnet(inline: bool) -> (Runtime, String) {
    let data = std::env::var_os("PATHNET_FASHION_MNIST")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/share/datasets/fashion-mnist".into());
    assert!(
        data.is_dir(),
        "Fashion-MNIST not found at {}",
        data.display()
    );
    let spec = format!(
        r#"
name = "inline"
seed = 3
[data]
dir = "{}"
[pathnet]
layers = 2
modules_per_layer = 4
max_active = 2
module_units = 3
[evolution]
population = 4
minibatches_per_evaluation = 1
batch_size = 1
max_generations = 2
[[tasks]]
name = "a"
classes = [0, 1]
"#,
        data.display()
    );
    let mut rt = runtime();
    rt.start(Ready::load(Spec::from_toml(&spec).unwrap()).unwrap())
        .unwrap();
    let agent = joined_inline(&mut rt, inline);
    (rt, agent)
}

fn joined_inline(rt: &mut Runtime, inline: bool) -> String {
    let agent = rt
        .join_with(&v1::JoinRequest {
            capabilities: Some(v1::AgentCapabilities {
                inline_parameters: inline,
                ..Default::default()
            }),
            ..Default::default()
        })
        .agent_id;
    rt.open_stream(&agent, 1).unwrap();
    agent
}

/// The (module, version) pairs a pathway lease names, and those its parameters carry.
fn named_and_sent(item: &v1::WorkItem) -> (Vec<v1::ModuleRef>, Vec<v1::ModuleRef>) {
    let Some(v1::work_item::Payload::PathwayTraining(job)) = &item.payload else {
        panic!("a pathway lease");
    };
    let layers = job.architecture.as_ref().unwrap().layers as usize;
    let sent = pathnet_work::wire::params_from_chunks(item.parameters.clone(), layers)
        .unwrap()
        .iter()
        .map(|m| pathnet_work::wire::module_ref(m.id, m.version, layers))
        .collect();
    (job.modules.clone(), sent)
}

#[test]
fn a_pathway_lease_carries_the_modules_its_agent_lacks_if_the_agent_asked() {
    let (mut rt, agent) = pathnet(true);
    let first = lease(&mut rt, &agent);
    let (named, sent) = named_and_sent(&first);
    let sorted = |mut refs: Vec<v1::ModuleRef>| {
        refs.sort_by_key(|r| format!("{r:?}"));
        refs
    };
    assert_eq!(
        sorted(sent),
        sorted(named.clone()),
        "every module comes with it"
    );
    let bytes = rt.observed.bytes_pulled;
    assert!(bytes > 0);

    // Handed back and leased again: the agent holds what it was sent.
    fail(&mut rt, &agent, &first.work_id, "flaky disk");
    let again = lease(&mut rt, &agent);
    let (named_again, sent_again) = named_and_sent(&again);
    assert_eq!(named_again, named);
    assert!(sent_again.is_empty(), "{sent_again:?}");
    assert_eq!(rt.observed.bytes_pulled, bytes);

    // An agent that did not ask pulls everything itself.
    let (mut rt, plain) = pathnet(false);
    let item = lease(&mut rt, &plain);
    assert!(item.parameters.is_empty());
    assert_eq!(rt.observed.bytes_pulled, 0);
}
