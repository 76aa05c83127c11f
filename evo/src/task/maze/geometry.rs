//! Points, wall segments and the two queries the simulation needs: where a sensor ray first
//! meets a wall, and how far a point is from a wall.

/// A point of the maze, in the simulator's units (y grows downwards, as on screen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate, growing downwards.
    pub y: f64,
}

impl Point {
    /// The point `(x, y)`.
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }

    /// The direction of the vector from the origin to this point, in degrees in
    /// `[0, 360)`, measured from the +x axis towards +y.
    pub fn angle(self) -> f64 {
        self.y.atan2(self.x).to_degrees().rem_euclid(360.0)
    }
}

/// A straight line segment: a wall, or a sensor ray.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// One end (a ray's origin).
    pub a: Point,
    /// The other end.
    pub b: Point,
}

impl Segment {
    /// The segment from `(ax, ay)` to `(bx, by)`.
    pub const fn new(ax: f64, ay: f64, bx: f64, by: f64) -> Self {
        Segment {
            a: Point::new(ax, ay),
            b: Point::new(bx, by),
        }
    }

    /// Where the open segments `self` and `other` cross; `None` when they are parallel or
    /// meet only at or beyond an end point (the maze simulator's convention).
    pub fn crossing(&self, other: &Segment) -> Option<Point> {
        let (a, b, c, d) = (self.a, self.b, other.a, other.b);
        let denominator = (b.x - a.x) * (d.y - c.y) - (b.y - a.y) * (d.x - c.x);
        if denominator == 0.0 {
            return None;
        }
        let r = ((a.y - c.y) * (d.x - c.x) - (a.x - c.x) * (d.y - c.y)) / denominator;
        let s = ((a.y - c.y) * (b.x - a.x) - (a.x - c.x) * (b.y - a.y)) / denominator;
        (r > 0.0 && r < 1.0 && s > 0.0 && s < 1.0)
            .then(|| Point::new(a.x + r * (b.x - a.x), a.y + r * (b.y - a.y)))
    }

    /// Whether the closed segments share at least one point (touching counts).
    pub fn touches(&self, other: &Segment) -> bool {
        let (p1, p2, q1, q2) = (self.a, self.b, other.a, other.b);
        let (d1, d2) = (orient(q1, q2, p1), orient(q1, q2, p2));
        let (d3, d4) = (orient(p1, p2, q1), orient(p1, p2, q2));
        if d1 * d2 < 0.0 && d3 * d4 < 0.0 {
            return true;
        }
        (d1 == 0.0 && within_box(q1, q2, p1))
            || (d2 == 0.0 && within_box(q1, q2, p2))
            || (d3 == 0.0 && within_box(p1, p2, q1))
            || (d4 == 0.0 && within_box(p1, p2, q2))
    }

    /// Euclidean distance from `p` to the nearest point of the segment.
    pub fn distance(&self, p: Point) -> f64 {
        let (dx, dy) = (self.b.x - self.a.x, self.b.y - self.a.y);
        let length2 = dx * dx + dy * dy;
        if length2 == 0.0 {
            return self.a.distance(p);
        }
        let u = ((p.x - self.a.x) * dx + (p.y - self.a.y) * dy) / length2;
        if !(0.0..=1.0).contains(&u) {
            return self.a.distance(p).min(self.b.distance(p));
        }
        p.distance(Point::new(self.a.x + u * dx, self.a.y + u * dy))
    }
}

/// Twice the signed area of the triangle `a, b, c`: positive when `c` lies to the left of
/// `a -> b`. Exact for the small integer and half-integer coordinates the breadcrumb grid uses.
fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

fn within_box(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_is_strict_and_touching_is_not() {
        let h = Segment::new(0.0, 0.0, 10.0, 0.0);
        let v = Segment::new(5.0, -5.0, 5.0, 5.0);
        assert_eq!(h.crossing(&v), Some(Point::new(5.0, 0.0)));
        let ends_on_h = Segment::new(5.0, 0.0, 5.0, 5.0);
        assert_eq!(h.crossing(&ends_on_h), None);
        assert!(h.touches(&ends_on_h));
        let apart = Segment::new(11.0, -1.0, 11.0, 1.0);
        assert!(!h.touches(&apart));
        let collinear = Segment::new(10.0, 0.0, 12.0, 0.0);
        assert!(h.touches(&collinear));
    }

    #[test]
    fn distance_to_the_body_and_to_the_ends() {
        let s = Segment::new(0.0, 0.0, 10.0, 0.0);
        assert_eq!(s.distance(Point::new(5.0, 3.0)), 3.0);
        assert_eq!(s.distance(Point::new(13.0, 4.0)), 5.0);
        assert_eq!(s.distance(Point::new(-3.0, -4.0)), 5.0);
    }

    #[test]
    fn angles_cover_the_full_circle() {
        assert_eq!(Point::new(1.0, 0.0).angle(), 0.0);
        assert!((Point::new(0.0, 1.0).angle() - 90.0).abs() < 1e-12);
        assert!((Point::new(-1.0, 0.0).angle() - 180.0).abs() < 1e-12);
        assert!((Point::new(0.0, -1.0).angle() - 270.0).abs() < 1e-12);
    }
}
