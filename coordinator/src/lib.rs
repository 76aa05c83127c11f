//! The coordinator: experiments, populations, selection and the super-network's parameters.
