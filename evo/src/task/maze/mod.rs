//! The Breadcrumb Hard Maze: a robot driven by the network must reach the goal of Lehman &
//! Stanley's hard maze; fitness is minus the path distance (along the maze, see
//! [`breadcrumb`]) from where the robot ends up to the goal.

pub mod breadcrumb;
pub mod geometry;
pub mod robot;

use super::{BROKEN_FITNESS, Evaluation, evenly_spaced};
use breadcrumb::Breadcrumb;
use ndarray::{Array2, Axis};
use pathnet_nn::Layer;
use robot::{Maze, Robot, SENSORS};
use std::sync::OnceLock;

/// Simulation steps per episode, as in the safe-mutation paper's maze file.
pub const STEPS: usize = 600;
/// The network is queried every this many steps; its outputs are held in between.
pub const FRAMESKIP: usize = 3;
/// Network inputs: see [`Robot::sensors`].
pub const INPUTS: usize = SENSORS;
/// Network outputs: turn and drive, each in `[0, 1]`.
pub const OUTPUTS: usize = 2;

/// Cells of the breadcrumb grid closer than this to a wall are not on any path: the robot's
/// centre stays [`robot::RADIUS`] = 8 from every wall, so every cell it can be in has its centre
/// at least 8 - sqrt(2)/2 away, while gaps narrower than 12 (where walls meet) are closed.
pub const BREADCRUMB_CLEARANCE: f64 = 6.0;

/// The hard maze and its breadcrumb field, computed once.
pub fn hard_maze() -> &'static (Maze, Breadcrumb) {
    static MAZE: OnceLock<(Maze, Breadcrumb)> = OnceLock::new();
    MAZE.get_or_init(|| {
        let maze = Maze::hard();
        let breadcrumb = Breadcrumb::new(&maze.walls, maze.goal, BREADCRUMB_CLEARANCE);
        (maze, breadcrumb)
    })
}

/// Runs one `steps`-step episode of `net` (input `[1, INPUTS]`, output `[1, OUTPUTS]`) in
/// the hard maze. Solved when the robot came within [`robot::GOAL_RADIUS`] of the goal at any
/// step; the experience is up to `max_experience` of the inputs the network was queried on,
/// evenly spaced over the episode.
pub fn evaluate(net: &dyn Layer<f32>, steps: usize, max_experience: usize) -> Evaluation {
    let (maze, breadcrumb) = hard_maze();
    let mut robot = Robot::new(maze);
    let mut seen: Vec<[f32; SENSORS]> = Vec::with_capacity(steps.div_ceil(FRAMESKIP));
    let (mut turn, mut drive) = (0.5, 0.5);
    let mut broken = false;
    for step in 0..steps {
        if step % FRAMESKIP == 0 {
            let sensors = robot.sensors().map(|v| v as f32);
            seen.push(sensors);
            let input = Array2::from_shape_vec((1, SENSORS), sensors.to_vec())
                .expect("one row of SENSORS values");
            let output = net.forward(input.view().into_dyn()).output;
            if output.iter().any(|v| !v.is_finite()) {
                broken = true;
                break;
            }
            turn = output[[0, 0]] as f64;
            drive = output[[0, 1]] as f64;
        }
        robot.step(turn, drive);
    }
    let distance = breadcrumb.distance(robot.location);
    let fitness = if broken || !distance.is_finite() {
        BROKEN_FITNESS
    } else {
        -distance
    };
    let picked = evenly_spaced(seen.len(), max_experience);
    let mut experience = Array2::<f32>::zeros((picked.len(), SENSORS));
    for (mut row, &i) in experience.axis_iter_mut(Axis(0)).zip(&picked) {
        row.assign(&ndarray::ArrayView1::from(&seen[i]));
    }
    Evaluation {
        fitness,
        solved: robot.reached_goal && !broken,
        experience: experience.into_dyn(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geometry::Point;

    #[test]
    fn the_breadcrumb_leads_around_the_hard_maze() {
        let (maze, b) = hard_maze();
        let start = b.distance(maze.start);
        let straight = maze.start.distance(maze.goal);
        assert!(start.is_finite());
        // The goal is 164 units straight up from the start, but the way there winds through
        // the maze.
        assert!(start > 1.5 * straight, "{start} vs {straight}");
        assert_eq!(b.distance(maze.goal), 0.0);
        // A point just behind the wall above the start is close in a straight line but far
        // along the maze.
        let behind_wall = Point::new(40.0, 45.0);
        assert!(b.distance(behind_wall) < 30.0);
        let across_wall = Point::new(40.0, 60.0);
        assert!(
            b.distance(across_wall) > 150.0,
            "{}",
            b.distance(across_wall)
        );
    }

    #[test]
    fn a_still_robot_scores_its_starting_distance() {
        // A network whose outputs are all 0.5 never moves: zero weights, sigmoid(0) = 0.5.
        let spec = crate::network::NetworkSpec::Mlp {
            inputs: INPUTS,
            hidden: 4,
            hidden_layers: 1,
            outputs: OUTPUTS,
        };
        let mut net = spec.build(0);
        for mut p in net.params_mut() {
            p.fill(0.0);
        }
        let e = evaluate(&*net, STEPS, 100);
        let (maze, b) = hard_maze();
        assert_eq!(e.fitness, -b.distance(maze.start));
        assert!(!e.solved);
        assert_eq!(e.experience.shape(), &[100, INPUTS]);
    }
}
