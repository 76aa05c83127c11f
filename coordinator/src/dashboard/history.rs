//! The fitness history a page opened mid-run starts from: one series per task run (a task,
//! or a task under one arm of a comparison, or a phase), each a curve of best and mean
//! fitness by generation.
//!
//! A curve has one point per generation, not per evaluation: a generation's evaluations
//! overwrite its point, and the point is sent to live pages once, when the generation is
//! over (the next one begins, or the task ends). A GA evaluates hundreds of genomes a
//! generation, so pages would otherwise get hundreds of messages for one visible point.
//!
//! Memory is bounded: a series keeps at most `max_points` points. Points fall in buckets of
//! `stride` generations, a bucket keeping its latest point; when a series fills up its
//! stride doubles and neighbouring buckets merge, so a long run is drawn coarser rather
//! than cut short, and live pages then get one point per bucket. At most `max_series`
//! series are kept, the oldest dropped first.

use crate::run::{FitnessEvent, Progress};
use serde::Serialize;
use std::collections::VecDeque;

/// One point of a curve: `[generation, evaluations, best fitness, mean fitness, unix ms]`
/// (an array, not an object: a snapshot holds thousands of them).
pub type Point = (u64, u64, f64, f64, u64);

/// One task run's curve and progress.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// Unique within the coordinator's life; the page matches live points by it.
    pub id: u64,
    /// Zero-based index of the task in its experiment.
    pub task: usize,
    /// The task's name (a spec's task name, an environment or an arm's label).
    pub name: String,
    /// The task's generation cap; `None` for kinds that stop on a step budget instead.
    pub max_generations: Option<usize>,
    /// Environment steps taken and budgeted, for the kinds that learn from environments.
    pub env_steps: Option<(u64, u64)>,
    /// The latest mean return over the recent episodes, for the kinds that learn from
    /// environments.
    pub mean_return: Option<f64>,
    /// The task has ended (threshold, cap or budget reached, or the run stopped).
    pub finished: bool,
    /// Generations per bucket of `points`.
    pub stride: u64,
    /// The last one may be the current bucket's, still changing (see `open`).
    pub points: Vec<Point>,
    /// The last point's bucket is still being evaluated: it has not been sent live yet.
    #[serde(skip)]
    open: bool,
}

/// What changed in the history, for the clients watching live.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Change {
    /// Another experiment: everything before it is gone.
    Reset,
    /// A series was added or its header (progress, finished) changed.
    Series(u64),
    /// A point was added to a series.
    Point(u64, Point),
    /// Every task is done.
    Finished,
}

pub(super) struct History {
    experiment: Option<String>,
    series: VecDeque<Series>,
    next_id: u64,
    max_points: usize,
    max_series: usize,
}

impl History {
    pub(super) fn new(max_points: usize, max_series: usize) -> Self {
        History {
            experiment: None,
            series: VecDeque::new(),
            next_id: 0,
            // Merging halves a full series; fewer than two points would never shrink.
            max_points: max_points.max(2),
            max_series: max_series.max(1),
        }
    }

    pub(super) fn experiment(&self) -> Option<&str> {
        self.experiment.as_deref()
    }

    pub(super) fn series(&self) -> impl Iterator<Item = &Series> {
        self.series.iter()
    }

    pub(super) fn get(&self, id: u64) -> Option<&Series> {
        self.series.iter().find(|s| s.id == id)
    }

    /// Records `event` of `experiment` at `unix_ms`; returns what changed, in order.
    pub(super) fn apply(
        &mut self,
        experiment: &str,
        event: &Progress,
        unix_ms: u64,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.experiment.as_deref() != Some(experiment) {
            self.experiment = Some(experiment.to_owned());
            self.series.clear();
            changes.push(Change::Reset);
        }
        match event {
            Progress::TaskStarted {
                task,
                name,
                max_generations,
            } => {
                // Whatever ran before is over: its last generations go out now.
                self.close_all(&mut changes);
                let id = self.start(*task, name.clone());
                if let Some(s) = self.series.back_mut() {
                    s.max_generations = Some(*max_generations);
                }
                changes.push(Change::Series(id));
            }
            Progress::Evaluation(e) => {
                let (id, created) = self.current(e.task, || format!("task {}", e.task));
                if created {
                    changes.push(Change::Series(id));
                }
                if let Some(point) = self.record(id, e, unix_ms) {
                    changes.push(Change::Point(id, point));
                }
            }
            Progress::Video(v) => {
                // A segment is a point of the curve: segments as generations, frames as
                // evaluations, the segment's frame accuracy as fitness.
                let e = FitnessEvent {
                    task: v.task,
                    generation: v.segment as usize,
                    evaluations: v.frames,
                    fitness: v.accuracy,
                    training_accuracy: v.accuracy,
                    best_fitness: v.accuracy,
                    mean_fitness: v.accuracy,
                };
                let (id, created) = self.current(e.task, || format!("task {}", e.task));
                if created {
                    changes.push(Change::Series(id));
                }
                if let Some(point) = self.record(id, &e, unix_ms) {
                    changes.push(Change::Point(id, point));
                }
            }
            Progress::Steps {
                task,
                name,
                env_steps,
                max_env_steps,
                mean_return,
            } => {
                let (id, _) = self.current(*task, || name.clone());
                if let Some(s) = self.series.iter_mut().find(|s| s.id == id) {
                    s.env_steps = Some((*env_steps, *max_env_steps));
                    s.mean_return = *mean_return;
                }
                changes.push(Change::Series(id));
            }
            Progress::TaskFinished(summary) => {
                if let Some(s) = self
                    .series
                    .iter_mut()
                    .rev()
                    .find(|s| s.task == summary.task)
                {
                    s.finished = true;
                    let id = s.id;
                    if let Some(point) = s.close() {
                        changes.push(Change::Point(id, point));
                    }
                    changes.push(Change::Series(id));
                }
            }
            Progress::Generation { .. } => {}
            Progress::Finished => {
                self.close_all(&mut changes);
                for s in &mut self.series {
                    s.finished = true;
                }
                changes.push(Change::Finished);
            }
        }
        changes
    }

    /// The id of the latest series of `task`, started (named by `name`) if there is none.
    fn current(&mut self, task: usize, name: impl FnOnce() -> String) -> (u64, bool) {
        match self.series.iter().rev().find(|s| s.task == task) {
            Some(s) => (s.id, false),
            None => (self.start(task, name()), true),
        }
    }

    fn start(&mut self, task: usize, name: String) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.series.len() == self.max_series {
            self.series.pop_front();
        }
        self.series.push_back(Series {
            id,
            task,
            name,
            max_generations: None,
            env_steps: None,
            mean_return: None,
            finished: false,
            stride: 1,
            points: Vec::new(),
            open: false,
        });
        id
    }

    /// Sends every series' current generation as it stands.
    fn close_all(&mut self, changes: &mut Vec<Change>) {
        for s in &mut self.series {
            if let Some(point) = s.close() {
                changes.push(Change::Point(s.id, point));
            }
        }
    }

    /// Puts `e` in its generation's point; returns the point of a bucket it closed.
    fn record(&mut self, id: u64, e: &FitnessEvent, unix_ms: u64) -> Option<Point> {
        let max_points = self.max_points;
        let s = self.series.iter_mut().find(|s| s.id == id)?;
        let point = (
            e.generation as u64,
            e.evaluations,
            e.best_fitness,
            e.mean_fitness,
            unix_ms,
        );
        let bucket = |p: &Point, stride: u64| p.0 / stride;
        let mut closed = None;
        match s.points.last_mut() {
            Some(last) if bucket(last, s.stride) == bucket(&point, s.stride) => {
                // A generation already sent that gets a late result is sent again.
                *last = point;
                s.open = true;
            }
            _ => {
                closed = s.close();
                s.points.push(point);
                s.open = true;
            }
        }
        if s.points.len() > max_points {
            s.stride *= 2;
            let stride = s.stride;
            let mut merged: Vec<Point> = Vec::with_capacity(max_points);
            for p in s.points.drain(..) {
                match merged.last_mut() {
                    Some(last) if bucket(last, stride) == bucket(&p, stride) => *last = p,
                    _ => merged.push(p),
                }
            }
            s.points = merged;
        }
        closed
    }
}

impl Series {
    /// The last point, if it was still open: its bucket is over.
    fn close(&mut self) -> Option<Point> {
        if !std::mem::take(&mut self.open) {
            return None;
        }
        self.points.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation(task: usize, generation: usize, best: f64) -> Progress {
        Progress::Evaluation(FitnessEvent {
            task,
            generation,
            evaluations: generation as u64 * 2,
            fitness: best,
            training_accuracy: 0.5,
            best_fitness: best,
            mean_fitness: best - 0.1,
        })
    }

    fn started(task: usize, name: &str) -> Progress {
        Progress::TaskStarted {
            task,
            name: name.into(),
            max_generations: 100,
        }
    }

    #[test]
    fn a_generation_keeps_its_latest_point_and_a_task_run_its_own_series() {
        let mut h = History::new(100, 8);
        assert_eq!(h.apply("x-1", &started(0, "A"), 1)[0], Change::Reset);
        h.apply("x-1", &evaluation(0, 0, -0.5), 2);
        h.apply("x-1", &evaluation(0, 0, -0.4), 3);
        h.apply("x-1", &evaluation(0, 1, -0.3), 4);
        // The same task again (a comparison's control arm) is a new curve.
        h.apply("x-1", &started(0, "A (scratch)"), 5);
        h.apply("x-1", &evaluation(0, 0, -0.9), 6);
        let series: Vec<&Series> = h.series().collect();
        assert_eq!(series.len(), 2);
        assert_eq!(
            series[0].points,
            vec![(0, 0, -0.4, -0.5, 3), (1, 2, -0.3, -0.4, 4)]
        );
        assert_eq!(series[0].max_generations, Some(100));
        assert_eq!(series[1].name, "A (scratch)");
        assert_eq!(series[1].points.len(), 1);
    }

    fn points(changes: &[Change]) -> Vec<u64> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Point(_, p) => Some(p.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn pages_get_one_point_per_generation_when_it_is_over() {
        let mut h = History::new(100, 8);
        h.apply("ga-1", &started(0, "parity"), 0);
        // A GA's generation: many evaluations, one point, sent once the next one begins.
        let mut sent = Vec::new();
        for generation in 0..10 {
            for member in 0..250 {
                let best = -1.0 / (1.0 + generation as f64) - 0.001 * member as f64;
                let changes = h.apply("ga-1", &evaluation(0, generation, best), 0);
                assert!(
                    member == 0 || points(&changes).is_empty(),
                    "a point sent mid-generation: {changes:?}"
                );
                sent.extend(points(&changes));
            }
        }
        assert_eq!(sent, (0..9).collect::<Vec<u64>>());
        // The open generation is in the snapshot already, and goes out when the task ends.
        let s = h.series().next().unwrap();
        assert_eq!(s.points.len(), 10);
        assert_eq!(s.points[9].2, -0.1 - 0.249);
        let changes = h.apply("ga-1", &Progress::Finished, 0);
        assert_eq!(points(&changes), vec![9]);
        assert_eq!(changes.last(), Some(&Change::Finished));
        // Nothing is sent twice.
        assert!(points(&h.apply("ga-1", &Progress::Finished, 0)).is_empty());
    }

    #[test]
    fn a_new_task_or_the_end_sends_the_last_generation() {
        let mut h = History::new(100, 8);
        h.apply("p-1", &started(0, "A"), 0);
        h.apply("p-1", &evaluation(0, 0, -0.5), 0);
        h.apply("p-1", &evaluation(0, 3, -0.4), 0);
        let changes = h.apply("p-1", &started(1, "B"), 0);
        assert_eq!(points(&changes), vec![3]);
        h.apply("p-1", &evaluation(1, 0, -0.7), 0);
        let changes = h.apply("p-1", &Progress::Finished, 0);
        assert_eq!(points(&changes), vec![0]);
        assert_eq!(changes.last(), Some(&Change::Finished));
    }

    #[test]
    fn a_long_run_is_kept_coarser_within_the_bound() {
        let mut h = History::new(64, 8);
        h.apply("x-1", &started(0, "A"), 0);
        let mut sent = 0;
        for generation in 0..10_000 {
            let changes = h.apply(
                "x-1",
                &evaluation(0, generation, -1.0 / (1.0 + generation as f64)),
                0,
            );
            sent += points(&changes).len();
        }
        // Live pages get fewer points as the curve coarsens: about 64 per doubling.
        assert!(sent < 64 * 10, "{sent} points sent for 10000 generations");
        let s = h.series().next().unwrap();
        assert!(s.points.len() <= 64, "{}", s.points.len());
        assert!(s.points.len() >= 32, "{}", s.points.len());
        assert!(s.stride > 1);
        // The newest point is always kept, and the curve is still in generation order.
        assert_eq!(s.points.last().unwrap().0, 9_999);
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn series_are_bounded_and_another_experiment_starts_afresh() {
        let mut h = History::new(8, 3);
        for task in 0..5 {
            h.apply("x-1", &started(task, "t"), 0);
        }
        let tasks: Vec<usize> = h.series().map(|s| s.task).collect();
        assert_eq!(tasks, vec![2, 3, 4]);
        let changes = h.apply("x-2", &evaluation(7, 0, -0.5), 0);
        assert_eq!(changes[0], Change::Reset);
        assert!(matches!(changes[1], Change::Series(_)));
        let only: Vec<&Series> = h.series().collect();
        assert_eq!(
            (only.len(), only[0].task, only[0].name.as_str()),
            (1, 7, "task 7")
        );
        assert_eq!(h.experiment(), Some("x-2"));
    }

    #[test]
    fn steps_and_the_end_update_the_series() {
        let mut h = History::new(8, 3);
        let steps = Progress::Steps {
            task: 0,
            name: "CartPole-v1".into(),
            env_steps: 500,
            max_env_steps: 1000,
            mean_return: Some(21.5),
        };
        h.apply("a-1", &steps, 0);
        assert_eq!(
            h.apply("a-1", &Progress::Finished, 0),
            vec![Change::Finished]
        );
        let s = h.series().next().unwrap();
        assert_eq!(s.name, "CartPole-v1");
        assert_eq!(
            (s.env_steps, s.mean_return, s.finished),
            (Some((500, 1000)), Some(21.5), true)
        );
    }
}
