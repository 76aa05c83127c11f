//! A Sideways run cut into segments ends exactly where the uncut run does: each segment's
//! snapshot carries everything (parameters, Adam's moments and step counts), and the video
//! stream's position is the batch index.

use pathnet_work::sideways::segment::{VideoImages, execute};
use pathnet_work::sideways::{SegmentJob, SidewaysTask, Snapshot};
use std::path::PathBuf;

fn task() -> SidewaysTask {
    let data_dir = std::env::var_os("PATHNET_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(
        data_dir.is_dir(),
        "Fashion-MNIST not found at {}: run scripts/setup-data",
        data_dir.display()
    );
    let mut task = SidewaysTask {
        data_dir,
        batch: 2,
        batches: 4,
        test_videos: 0,
        ..SidewaysTask::default()
    };
    task.video.frames = 4;
    task
}

fn train(task: &SidewaysTask, cuts: &[u64]) -> Snapshot {
    pathnet_nn::set_threads(1);
    let images = VideoImages::shared();
    let mut snapshot = task.initial_snapshot(5).unwrap();
    let mut first = 0;
    for (segment, &batches) in cuts.iter().enumerate() {
        let job = SegmentJob {
            task: task.clone(),
            seed: 5,
            segment: segment as u64,
            first_batch: first,
            batches,
            evaluate: false,
            snapshot,
        };
        snapshot = execute(&job, &images).unwrap().snapshot;
        first += batches;
    }
    snapshot
}

#[test]
fn segments_end_where_the_uncut_run_does() {
    let task = task();
    let whole = train(&task, &[4]);
    assert!(whole.stages.iter().all(|s| s.optimizer_steps == 4));
    assert_eq!(train(&task, &[1, 3]), whole);
    assert_eq!(train(&task, &[2, 1, 1]), whole);
    let mut per_tick = task.clone();
    per_tick.update = pathnet_nn::sideways::UpdateSchedule::PerTick;
    let whole = train(&per_tick, &[4]);
    assert_eq!(train(&per_tick, &[3, 1]), whole);
}

#[test]
fn a_snapshot_that_does_not_fit_the_network_is_refused() {
    let task = task();
    let mut snapshot = task.initial_snapshot(5).unwrap();
    snapshot.stages[1].params.pop();
    let job = SegmentJob {
        task: task.clone(),
        seed: 5,
        segment: 0,
        first_batch: 0,
        batches: 1,
        evaluate: false,
        snapshot,
    };
    let err = execute(&job, &VideoImages::shared())
        .unwrap_err()
        .to_string();
    assert!(err.contains("stage 2"), "{err}");
}

#[test]
fn a_segment_and_its_outcome_survive_the_wire_in_small_chunks() {
    use pathnet_work::sideways::{SegmentMetrics, SegmentOutcome};
    use pathnet_work::sideways_wire::*;
    let task = task();
    let snapshot = train(&task, &[1]);
    let job = SegmentJob {
        task: task.clone(),
        seed: 5,
        segment: 3,
        first_batch: 6,
        batches: 2,
        evaluate: true,
        snapshot: snapshot.clone(),
    };
    // 1 KiB chunks: every big tensor goes in many pieces.
    let pathnet_proto::v1::work_item::Payload::SidewaysSegment(payload) =
        job_payload(&job, 1024).unwrap()
    else {
        panic!("a Sideways payload");
    };
    assert!(payload.snapshot.as_ref().unwrap().tensors.len() > 100);
    assert_eq!(job_from_payload(&payload).unwrap(), job);
    let outcome = SegmentOutcome {
        segment: 3,
        snapshot,
        metrics: SegmentMetrics {
            frames: 16,
            seconds: 0.5,
            mean_loss: 2.0,
            frame_accuracy: 0.25,
            videos: 4,
            clips_correct: 1,
            stage_busy: vec![0.5, 0.75],
            test_accuracy: Some(0.5),
            test_loss: Some(1.5),
            ticks: 76,
            links: 1,
            link_bytes: 123_456,
        },
    };
    let report = outcome_to_report("a", "w", &outcome, 10, 1024).unwrap();
    assert_eq!(outcome_from_report(&report).unwrap(), outcome);
    let mut bad = report.clone();
    bad.sideways.as_mut().unwrap().frame_accuracy = 1.5;
    let err = outcome_from_report(&bad).unwrap_err().to_string();
    assert!(err.contains("frame_accuracy"), "{err}");
    let mut bad = report;
    bad.sideways
        .as_mut()
        .unwrap()
        .snapshot
        .as_mut()
        .unwrap()
        .stages[0]
        .parameters += 1;
    let err = outcome_from_report(&bad).unwrap_err().to_string();
    assert!(err.contains("snapshot.stages"), "{err}");
}
