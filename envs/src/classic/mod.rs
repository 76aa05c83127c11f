//! Gymnasium's classic-control environments, ported to match Gymnasium 1.4 exactly. Each
//! system is its physics (a `control::Physics`) behind one shared shell (`control::Control`).

mod acrobot;
mod cartpole;
mod control;
mod mountain_car;
mod pendulum;
mod square;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;
