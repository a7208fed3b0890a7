//! A whole-state report: every rule family, grouped by segment. (Work in progress:
//! see issue 4.)
