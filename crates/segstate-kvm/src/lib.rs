//! Live harness for segstate on `/dev/kvm`.
