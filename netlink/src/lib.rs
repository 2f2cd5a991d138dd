//! Kernel adapters (being written).
