//! Kafka offset checkpoint files. TODO(helper C).
