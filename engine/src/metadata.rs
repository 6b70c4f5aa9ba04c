//! Topic metadata files. TODO(helper C).
