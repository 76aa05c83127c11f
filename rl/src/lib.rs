//! Reinforcement learning on our layers and environments.
