//! vCPU snapshots that carry the CPL explicitly. (Work in progress: see issue 5.)
