//! The maze navigator of Lehman & Stanley's maze simulator: a disc that turns and drives,
//! sensing walls with rangefinders and the goal with pie-slice radars.

use super::geometry::{Point, Segment};

/// The robot is a disc; it may not come closer than this to any wall.
pub const RADIUS: f64 = 8.0;
/// Rangefinders see this far; their readings are divided by it.
pub const RANGE: f64 = 100.0;
/// Rangefinder directions relative to the heading, in degrees.
pub const RANGEFINDER_ANGLES: [f64; 6] = [-90.0, -45.0, 0.0, 45.0, 90.0, -180.0];
/// Radar slices relative to the heading, `[from, to)` in degrees: front, right, back, left
/// (right is +90: y grows downwards, as on screen).
pub const RADAR_SLICES: [(f64, f64); 4] = [
    (315.0, 405.0),
    (45.0, 135.0),
    (135.0, 225.0),
    (225.0, 315.0),
];
/// Bias, rangefinders, radars.
pub const SENSORS: usize = 1 + RANGEFINDER_ANGLES.len() + RADAR_SLICES.len();
/// The goal counts as reached within this distance of the robot's centre.
pub const GOAL_RADIUS: f64 = 10.0;
/// Speed (units per step) and turn rate (degrees per step) are held within +-this.
const MAX_VELOCITY: f64 = 3.0;
/// Outputs in [0, 1] map to a desired velocity of `(o - 0.5) * VELOCITY_SCALE`.
const VELOCITY_SCALE: f64 = 6.0;
/// The most speed and turn rate may change towards the desired value in one step.
const MAX_ACCELERATION: f64 = 0.2;

/// Walls, start pose and goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Maze {
    /// Wall segments; the robot's centre keeps [`RADIUS`] from each.
    pub walls: Vec<Segment>,
    /// Where the robot starts.
    pub start: Point,
    /// Degrees, 0 along +x, growing towards +y.
    pub start_heading: f64,
    /// The goal's centre; reached within [`GOAL_RADIUS`].
    pub goal: Point,
}

impl Maze {
    /// Lehman & Stanley's hard maze (the `hard_maze.txt` of their maze simulator): a 200 x 200
    /// arena whose goal (top left) lies behind the wall that the start (bottom left) faces.
    pub fn hard() -> Self {
        let walls = [
            (41, 5, 3, 8),
            (3, 8, 4, 49),
            (4, 49, 57, 53),
            (4, 49, 7, 202),
            (7, 202, 195, 198),
            (195, 198, 186, 8),
            (186, 8, 39, 5),
            (56, 54, 56, 157),
            (57, 106, 158, 162),
            (77, 201, 108, 164),
            (6, 80, 33, 121),
            (192, 146, 87, 91),
            (56, 55, 133, 30),
        ]
        .map(|(ax, ay, bx, by)| Segment::new(ax as f64, ay as f64, bx as f64, by as f64));
        Maze {
            walls: walls.to_vec(),
            start: Point::new(36.0, 184.0),
            start_heading: 0.0,
            goal: Point::new(31.0, 20.0),
        }
    }
}

/// The navigator's state in one maze: pose, velocities and what it has hit and reached.
#[derive(Debug, Clone)]
pub struct Robot<'m> {
    maze: &'m Maze,
    /// The disc's centre.
    pub location: Point,
    /// Degrees in `[0, 360)`, 0 along +x, growing towards +y.
    pub heading: f64,
    /// Units per step along the heading, within +-3.
    pub speed: f64,
    /// Degrees per step, within +-3.
    pub turn_rate: f64,
    /// Steps on which a wall blocked the move.
    pub collisions: usize,
    /// Latched: whether the robot has ever been within [`GOAL_RADIUS`] of the goal.
    pub reached_goal: bool,
}

impl<'m> Robot<'m> {
    /// At rest on the maze's start pose.
    pub fn new(maze: &'m Maze) -> Self {
        let mut robot = Robot {
            maze,
            location: maze.start,
            heading: maze.start_heading,
            speed: 0.0,
            turn_rate: 0.0,
            collisions: 0,
            reached_goal: false,
        };
        robot.check_goal();
        robot
    }

    /// The network's inputs: a constant 1, the six rangefinder distances divided by
    /// [`RANGE`] (1 where nothing is in range), and four radars, of which the one whose
    /// slice contains the direction to the goal reads 1 and the others 0.
    pub fn sensors(&self) -> [f64; SENSORS] {
        let mut out = [0.0; SENSORS];
        out[0] = 1.0;
        for (i, angle) in RANGEFINDER_ANGLES.iter().enumerate() {
            out[1 + i] = self.rangefinder(*angle) / RANGE;
        }
        let to_goal = Point::new(
            self.maze.goal.x - self.location.x,
            self.maze.goal.y - self.location.y,
        );
        let relative = (to_goal.angle() - self.heading).rem_euclid(360.0);
        for (i, &(from, to)) in RADAR_SLICES.iter().enumerate() {
            let inside = (from..to).contains(&relative) || (from..to).contains(&(relative + 360.0));
            out[1 + RANGEFINDER_ANGLES.len() + i] = if inside { 1.0 } else { 0.0 };
        }
        out
    }

    /// Distance along the ray at `angle` degrees from the heading to the nearest wall it
    /// crosses, at most [`RANGE`].
    pub fn rangefinder(&self, angle: f64) -> f64 {
        let direction = (self.heading + angle).to_radians();
        let ray = Segment {
            a: self.location,
            b: Point::new(
                self.location.x + direction.cos() * RANGE,
                self.location.y + direction.sin() * RANGE,
            ),
        };
        self.maze
            .walls
            .iter()
            .filter_map(|wall| wall.crossing(&ray))
            .map(|p| p.distance(self.location))
            .fold(RANGE, f64::min)
    }

    /// One simulation step under the network's two outputs (turn, drive), each clipped to
    /// `[0, 1]` with 0.5 meaning "hold still". The desired turn rate and speed are
    /// `(o - 0.5) * 6`; each moves towards its desired value by at most 0.2 per step and stays
    /// within +-3. The robot then turns and moves along its previous heading, unless the new
    /// position would be closer than [`RADIUS`] to a wall, in which case it stays put.
    pub fn step(&mut self, turn: f64, drive: f64) {
        let desired = |o: f64| (o.clamp(0.0, 1.0) - 0.5) * VELOCITY_SCALE;
        let approach = |current: f64, target: f64| {
            let change = (target - current).clamp(-MAX_ACCELERATION, MAX_ACCELERATION);
            (current + change).clamp(-MAX_VELOCITY, MAX_VELOCITY)
        };
        // A NaN output would poison the state for the rest of the episode; treat it as "hold".
        let (turn, drive) = (nan_to_half(turn), nan_to_half(drive));
        self.turn_rate = approach(self.turn_rate, desired(turn));
        self.speed = approach(self.speed, desired(drive));

        let radians = self.heading.to_radians();
        let next = Point::new(
            self.location.x + radians.cos() * self.speed,
            self.location.y + radians.sin() * self.speed,
        );
        self.heading = (self.heading + self.turn_rate).rem_euclid(360.0);
        if self.maze.walls.iter().any(|w| w.distance(next) < RADIUS) {
            self.collisions += 1;
        } else {
            self.location = next;
        }
        self.check_goal();
    }

    /// Straight-line distance from its centre to the goal (not the breadcrumb distance).
    pub fn distance_to_goal(&self) -> f64 {
        self.location.distance(self.maze.goal)
    }

    fn check_goal(&mut self) {
        if self.distance_to_goal() < GOAL_RADIUS {
            self.reached_goal = true;
        }
    }
}

fn nan_to_half(o: f64) -> f64 {
    if o.is_nan() { 0.5 } else { o }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100 x 100 box with the robot in the middle facing +x, goal straight ahead.
    fn boxed() -> Maze {
        Maze {
            walls: vec![
                Segment::new(0.0, 0.0, 100.0, 0.0),
                Segment::new(100.0, 0.0, 100.0, 100.0),
                Segment::new(100.0, 100.0, 0.0, 100.0),
                Segment::new(0.0, 100.0, 0.0, 0.0),
            ],
            start: Point::new(30.0, 50.0),
            start_heading: 0.0,
            goal: Point::new(90.0, 50.0),
        }
    }

    #[test]
    fn sensors_read_the_expected_distances() {
        let maze = boxed();
        let robot = Robot::new(&maze);
        let s = robot.sensors();
        assert_eq!(s[0], 1.0);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // -90 looks towards -y (wall at y = 0, 50 away), 0 ahead (wall at x = 100, 70 away),
        // +90 towards +y (50 away), -180 behind (wall at x = 0, 30 away).
        assert!(close(s[1], 0.5), "{s:?}");
        assert!(close(s[3], 0.7), "{s:?}");
        assert!(close(s[5], 0.5), "{s:?}");
        assert!(close(s[6], 0.3), "{s:?}");
        // +-45 degrees: 50 * sqrt(2) = 70.7 to the side walls, within range.
        assert!(close(s[2], 50.0 * 2f64.sqrt() / RANGE), "{s:?}");
        assert!(close(s[4], 50.0 * 2f64.sqrt() / RANGE), "{s:?}");
        // The goal is ahead: only the front radar fires.
        assert_eq!(&s[7..], &[1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn radar_follows_the_goal_around_the_robot() {
        let mut maze = boxed();
        for (goal, slice) in [
            (Point::new(30.0, 90.0), 1), // +y: right of a robot facing +x
            (Point::new(5.0, 50.0), 2),  // behind
            (Point::new(30.0, 10.0), 3), // -y: left
        ] {
            maze.goal = goal;
            let s = Robot::new(&maze).sensors();
            let mut want = [0.0; 4];
            want[slice] = 1.0;
            assert_eq!(&s[7..], &want, "goal {goal:?}");
        }
    }

    #[test]
    fn out_of_range_reads_one() {
        let mut maze = boxed();
        maze.walls[1] = Segment::new(300.0, 0.0, 300.0, 100.0);
        maze.walls[0] = Segment::new(0.0, 0.0, 300.0, 0.0);
        maze.walls[2] = Segment::new(300.0, 100.0, 0.0, 100.0);
        let s = Robot::new(&maze).sensors();
        assert_eq!(s[3], 1.0);
    }

    #[test]
    fn velocities_ramp_and_saturate() {
        let maze = boxed();
        let mut robot = Robot::new(&maze);
        robot.step(0.5, 1.0);
        assert!((robot.speed - 0.2).abs() < 1e-12);
        for _ in 0..30 {
            robot.step(0.5, 1.0);
        }
        assert_eq!(robot.speed, MAX_VELOCITY);
        assert_eq!(robot.turn_rate, 0.0);
        robot.step(f64::NAN, 0.5);
        assert_eq!(robot.turn_rate, 0.0, "a NaN output holds still");
    }

    #[test]
    fn walls_block_and_the_goal_latches() {
        let maze = boxed();
        let mut robot = Robot::new(&maze);
        assert!(!robot.reached_goal);
        for _ in 0..200 {
            robot.step(0.5, 1.0);
        }
        // Driving straight at the wall at x = 100 stops the centre RADIUS short of it.
        assert!(
            robot.location.x < 100.0 - RADIUS + 1e-9,
            "{:?}",
            robot.location
        );
        assert!(
            robot.location.x > 100.0 - RADIUS - MAX_VELOCITY,
            "{:?}",
            robot.location
        );
        assert_eq!(robot.location.y, 50.0);
        assert!(robot.collisions > 0);
        // It passed within GOAL_RADIUS of (90, 50) on the way.
        assert!(robot.reached_goal);
        for _ in 0..100 {
            robot.step(0.5, 0.0);
        }
        assert!(robot.distance_to_goal() > GOAL_RADIUS);
        assert!(robot.reached_goal, "reaching the goal is remembered");
    }
}
