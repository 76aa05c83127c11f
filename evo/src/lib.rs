//! Neuroevolution with safe mutations.
