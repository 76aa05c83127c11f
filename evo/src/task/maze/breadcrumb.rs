//! The breadcrumb fitness of the hard maze: the length of the shortest path to the goal that
//! does not cross a wall, so that fitness rewards progress along the maze rather than
//! straight-line closeness (which the hard maze makes deceptive).
//!
//! Path lengths are computed once per maze by Dijkstra's algorithm on a grid of unit cells:
//! each cell centre links to its eight neighbours' centres (cost 1 or sqrt 2) unless the link
//! touches a wall or leads into a cell whose centre is closer than a clearance to a wall. The
//! clearance closes the narrow gaps where walls (almost) meet, which the robot cannot pass but
//! a grid path could slip through; kept below the robot's radius minus a cell diagonal, it
//! leaves open every cell the robot's centre can occupy. A position's value is its cell's.

use super::geometry::{Point, Segment};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Shortest wall-avoiding path lengths to one goal over a maze, one per unit grid cell (see
/// the module docs).
#[derive(Debug, Clone)]
pub struct Breadcrumb {
    width: usize,
    height: usize,
    /// Row-major `[y][x]`; `INFINITY` where no path exists.
    distance: Vec<f64>,
}

impl Breadcrumb {
    /// Path lengths to `goal` over the grid covering `[0, max x + 2) x [0, max y + 2)` of
    /// the walls and the goal, through cells whose centres are at least `clearance` from
    /// every wall.
    pub fn new(walls: &[Segment], goal: Point, clearance: f64) -> Self {
        let max = |f: fn(&Point) -> f64| {
            walls
                .iter()
                .flat_map(|w| [f(&w.a), f(&w.b)])
                .fold(f(&goal), f64::max)
                .max(0.0)
        };
        let width = max(|p| p.x).floor() as usize + 2;
        let height = max(|p| p.y).floor() as usize + 2;
        let mut distance = vec![f64::INFINITY; width * height];
        let centre = |i: usize| Point::new((i % width) as f64 + 0.5, (i / width) as f64 + 0.5);
        let Some(start) = cell(width, height, goal) else {
            return Breadcrumb {
                width,
                height,
                distance,
            };
        };
        let open: Vec<bool> = (0..width * height)
            .map(|i| walls.iter().all(|w| w.distance(centre(i)) >= clearance))
            .collect();
        distance[start] = 0.0;
        let mut heap = BinaryHeap::from([Entry(0.0, start)]);
        while let Some(Entry(d, i)) = heap.pop() {
            if d > distance[i] {
                continue;
            }
            let (x, y) = ((i % width) as isize, (i / width) as isize);
            for (dx, dy) in NEIGHBOURS {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                    continue;
                }
                let j = ny as usize * width + nx as usize;
                if !open[j] {
                    continue;
                }
                let step = if dx != 0 && dy != 0 {
                    std::f64::consts::SQRT_2
                } else {
                    1.0
                };
                if d + step >= distance[j] {
                    continue;
                }
                let link = Segment {
                    a: centre(i),
                    b: centre(j),
                };
                if walls.iter().any(|w| w.touches(&link)) {
                    continue;
                }
                distance[j] = d + step;
                heap.push(Entry(d + step, j));
            }
        }
        Breadcrumb {
            width,
            height,
            distance,
        }
    }

    /// The path length from `p` to the goal; `INFINITY` outside the grid or where no path
    /// exists.
    pub fn distance(&self, p: Point) -> f64 {
        cell(self.width, self.height, p).map_or(f64::INFINITY, |i| self.distance[i])
    }
}

const NEIGHBOURS: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

fn cell(width: usize, height: usize, p: Point) -> Option<usize> {
    let (x, y) = (p.x.floor(), p.y.floor());
    (x >= 0.0 && y >= 0.0 && (x as usize) < width && (y as usize) < height)
        .then(|| y as usize * width + x as usize)
}

/// A heap entry ordered so that the smallest distance pops first.
#[derive(PartialEq)]
struct Entry(f64, usize);

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_forces_the_path_around_it() {
        // A 20 x 20 box split by a wall from (10, 0) to (10, 15): the way from one side to
        // the other leads round the wall's free end.
        let walls = [
            Segment::new(0.0, 0.0, 20.0, 0.0),
            Segment::new(20.0, 0.0, 20.0, 20.0),
            Segment::new(20.0, 20.0, 0.0, 20.0),
            Segment::new(0.0, 20.0, 0.0, 0.0),
            Segment::new(10.0, 0.0, 10.0, 15.0),
        ];
        let goal = Point::new(5.5, 2.5);
        let b = Breadcrumb::new(&walls, goal, 0.0);
        assert_eq!(b.distance(goal), 0.0);
        assert_eq!(b.distance(Point::new(5.5, 7.9)), 5.0);
        let across = b.distance(Point::new(14.5, 2.5));
        // Straight-line 9, but the path must pass below y = 15 and back: at least 2 * 12.5.
        assert!(across > 25.0 && across < 32.0, "{across}");
        assert_eq!(b.distance(Point::new(50.0, 50.0)), f64::INFINITY);
        assert_eq!(b.distance(Point::new(-1.0, 5.0)), f64::INFINITY);
    }

    #[test]
    fn clearance_closes_narrow_gaps() {
        // Two walls leaving a gap of 1 between (10, 10) and (10, 11): open without clearance,
        // closed with it.
        let walls = [
            Segment::new(10.0, 0.0, 10.0, 10.0),
            Segment::new(10.0, 11.0, 10.0, 30.0),
            // Only extends the grid to x = 21, y = 41.
            Segment::new(20.0, 40.0, 20.0, 40.0),
        ];
        let (goal, other) = (Point::new(5.5, 10.5), Point::new(15.5, 10.5));
        assert!(Breadcrumb::new(&walls, goal, 0.0).distance(other) < 11.0);
        let detour = Breadcrumb::new(&walls, goal, 2.0).distance(other);
        assert!(detour > 20.0, "{detour}");
    }
}
