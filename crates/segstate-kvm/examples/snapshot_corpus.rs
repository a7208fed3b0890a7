//! Writes the format-version-1 compatibility corpus, tests/corpus/snapshots/v1/:
//!
//! - `example-user-null-ss.snap`: `segstate::testing::example_user_null_ss()`, synthetic
//!   and deterministic (no KVM needed);
//! - `harness-user-null-ss.snap`, `harness-kernel.snap`: the harness guest saved
//!   live at those pause points, with its (non-zero) guest memory.
//!
//! Run once per format version, from the workspace root, and commit the files:
//!
//! ```sh
//! cargo run -p segstate-kvm --example snapshot_corpus
//! ```
//!
//! Never regenerate an existing version's files: crates/segstate/tests/snapshot_corpus.rs
//! asserts their contents, and every later version of the reader must accept them.

use std::path::Path;

use segstate_kvm::RunOptions;
use segstate_kvm::snapshot::{SavePoint, save_at};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/snapshots/v1");
    std::fs::create_dir_all(&dir)?;
    let mut written = vec![];
    let p = dir.join("example-user-null-ss.snap");
    segstate::testing::example_user_null_ss().write_file(&p)?;
    written.push(p);
    for (at, name) in [
        (SavePoint::UserNullSs, "harness-user-null-ss.snap"),
        (SavePoint::Kernel, "harness-kernel.snap"),
    ] {
        let s = save_at(at, &RunOptions::default())?;
        let p = dir.join(name);
        s.write_file(&p)?;
        written.push(p);
    }
    for p in written {
        println!("{} ({} bytes)", p.display(), std::fs::metadata(&p)?.len());
    }
    Ok(())
}
