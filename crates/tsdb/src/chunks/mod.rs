//! Chunk files.
