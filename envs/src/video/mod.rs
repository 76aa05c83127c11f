//! Synthetic action-recognition videos: labelled images (Fashion-MNIST, MNIST) moving over a
//! canvas, streamed frame by frame.
//!
//! [`MovingObjects`] draws seeded clips over a [`Dataset`](crate::data::Dataset); clip `i` of
//! a generator is the same for the same seed and config, whatever was drawn before. A [`Clip`]
//! keeps only its objects' images and trajectories and renders any frame on demand, so memory
//! does not grow with the clip length. Each clip has two labels: the class of its (first)
//! object, which one frame shows, and the direction of its motion, which no single frame
//! shows. [`MovingObjectsConfig::moving_mnist`] is the standard Moving-MNIST layout.

mod config;
mod moving;

pub use config::{Directions, Edges, MovingObjectsConfig, VideoConfigError};
pub use moving::{Clip, ClipLabels, MovingObjects, render_batch};
