//! Gymnasium's classic-control environments, ported to match Gymnasium 1.4 exactly.

mod acrobot;
mod cartpole;
mod mountain_car;
mod pendulum;
mod square;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCar;
pub use pendulum::Pendulum;
