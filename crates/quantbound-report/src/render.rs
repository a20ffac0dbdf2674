//! Placeholder while rendering lands.
