//! Atomic file writes and directory syncs. TODO(helper C).
