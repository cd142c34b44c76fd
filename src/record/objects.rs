//! Content-addressed object store (being written).
