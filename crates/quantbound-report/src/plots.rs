//! Placeholder while plots land.
