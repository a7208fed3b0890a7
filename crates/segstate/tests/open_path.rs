//! `ingest::open_path`: the one opener that decides, from a path, how an input is
//! read. Snapshot directories, crosvm fragments and HyperVStorage files are read whole
//! by path; every other file is a stream read exactly as `source::read_each` reads it;
//! what cannot be opened is refused naming the path.
#![cfg(feature = "std")]

use std::path::{Path, PathBuf};

use segstate::ingest::source::{self, InputName};
use segstate::ingest::{Input, InputFormat, OpenError, OpenedInput, open_path};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn opened(path: &Path, format: Option<InputFormat>) -> OpenedInput {
    open_path(path, format).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn inputs(opened: OpenedInput) -> Vec<Input> {
    let mut out = Vec::new();
    let n = opened
        .read_each(&mut |i| out.push(i))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, out.len(), "read_each counts what it hands out");
    out
}

/// What each input says about itself, for comparing two ways of reading one file.
fn summary(inputs: &[Input]) -> Vec<(String, InputFormat, String)> {
    inputs
        .iter()
        .map(|i| (i.label.clone(), i.format, format!("{:?}", i.state)))
        .collect()
}

#[test]
fn a_log_is_a_stream_read_as_source_reads_it() {
    let path = fixture("dumps/blog-os-770.txt");
    let o = opened(&path, None);
    assert_eq!(o.name(), &InputName::Path(path.clone()));
    #[cfg(feature = "serde")]
    assert!(o.foreign_vcpus().is_none(), "a log is not read by path");
    let bytes = std::fs::read(&path).unwrap();
    let direct = source::read_all(&bytes, &InputName::Path(path.clone()), None).unwrap();
    assert!(!direct.is_empty());
    assert_eq!(summary(&inputs(o)), summary(&direct));
}

/// A log longer than the reader's parts (128-256 KiB, read one after another): its
/// dumps, exit lines and the lines its notes name are the whole file's, not a part's.
#[test]
fn line_numbers_past_the_first_part_are_the_files() {
    let path = fixture("dumps/amdsev-100.txt");
    let dump = std::fs::read(&path).unwrap();
    let filler_lines = 20_000;
    let mut long = "00:00:01.000000 [/Devices/pckbd/0/] (level 3) filler\n"
        .repeat(filler_lines)
        .into_bytes();
    assert!(long.len() > 512 << 10, "past several parts");
    long.extend_from_slice(&dump);
    let name = InputName::Path(path);
    let alone = source::read_all(&dump, &name, None).unwrap();
    let after = source::read_all(&long, &name, None).unwrap();
    assert_eq!(alone.len(), after.len());
    let shifted = |n: usize| n + filler_lines;
    for (a, b) in alone.iter().zip(&after) {
        let (la, lb) = (a.log.as_ref().unwrap(), b.log.as_ref().unwrap());
        assert_eq!(shifted(la.line), lb.line, "{}", b.label);
        assert!(!la.exits.is_empty(), "the fixture has exit lines");
        let exits = |l: &segstate::ingest::log::LogDump| -> Vec<usize> {
            l.exits.iter().map(|(n, _)| *n).collect()
        };
        assert_eq!(
            exits(la).into_iter().map(shifted).collect::<Vec<_>>(),
            exits(lb)
        );
        // Every `line N` a note names moves with the file.
        let named = |notes: &[String]| -> Vec<usize> {
            notes
                .iter()
                .flat_map(|n| n.split("line ").skip(1))
                .filter_map(|t| {
                    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().ok()
                })
                .collect()
        };
        assert!(
            !named(&la.notes).is_empty(),
            "the fixture's notes name lines"
        );
        assert_eq!(
            named(&la.notes)
                .into_iter()
                .map(shifted)
                .collect::<Vec<_>>(),
            named(&lb.notes)
        );
    }
}

#[test]
fn a_forced_format_is_kept_for_the_stream() {
    let path = fixture("dumps/blog-os-770.txt");
    let e = opened(&path, Some(InputFormat::Sregs))
        .read_each(&mut |_| panic!("nothing is read"))
        .unwrap_err();
    assert_eq!(e.input, InputName::Path(path));
    assert!(e.message.contains("kvm_sregs"), "{e}");
}

#[test]
fn a_missing_file_is_refused_naming_it() {
    let path = fixture("no-such-file");
    let e = open_path(&path, None).unwrap_err();
    assert!(matches!(&e, OpenError::Source(s) if s.input == InputName::Path(path.clone())));
    let text = e.to_string();
    assert!(text.starts_with(&path.display().to_string()), "{text}");
    assert!(text.contains("cannot open"), "{text}");
}

#[test]
fn a_directory_that_is_no_snapshot_is_refused_naming_it() {
    let dir = fixture("dumps");
    let e = open_path(&dir, None).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with(&dir.display().to_string()), "{text}");
    assert!(text.contains("is a directory"), "{text}");
    #[cfg(feature = "serde")]
    {
        assert_eq!(e, OpenError::NotASnapshot(dir));
        assert!(text.contains("no state.json") && text.contains("no vcpu namespace"));
    }
}

#[cfg(feature = "serde")]
mod by_path {
    use super::*;
    use segstate::ingest::{foreign_inputs, foreign_vcpus_at};

    /// `path` is read whole by path, to the vCPUs `foreign_vcpus_at` reads, and handed
    /// out as `foreign_inputs` makes them.
    fn read_by_path(path: &Path, format: Option<InputFormat>, expected: InputFormat) {
        let o = opened(path, format);
        let vcpus = o
            .foreign_vcpus()
            .unwrap_or_else(|| panic!("{} is read by path", path.display()))
            .to_vec();
        assert_eq!(vcpus, foreign_vcpus_at(path).unwrap());
        let got = inputs(o);
        assert_eq!(
            summary(&got),
            summary(&foreign_inputs(&vcpus).unwrap()),
            "{}",
            path.display()
        );
        assert!(!got.is_empty());
        assert!(got.iter().all(|i| i.format == expected), "{got:?}");
    }

    #[test]
    fn a_crosvm_snapshot_directory_and_its_fragment() {
        let dir = fixture("crosvm/user-null-ss");
        read_by_path(&dir, None, InputFormat::Crosvm);
        read_by_path(&dir.join("vcpu"), None, InputFormat::Crosvm);
        let fragment = dir.join("vcpu/vcpu1");
        read_by_path(&fragment, None, InputFormat::Crosvm);
        assert_eq!(opened(&fragment, None).foreign_vcpus().unwrap().len(), 1);
        // A format given makes a fragment a plain file of that format.
        let forced = opened(&fragment, Some(InputFormat::Crosvm));
        assert!(forced.foreign_vcpus().is_none());
        assert_eq!(inputs(forced).len(), 1);
    }

    #[test]
    fn a_crosvm_json_snapshot_directory_and_its_fragment() {
        let dir = fixture("crosvm/json-user-null-ss");
        read_by_path(&dir, None, InputFormat::Crosvm);
        read_by_path(&dir.join("vcpu/vcpu0"), None, InputFormat::Crosvm);
        // Forced, a JSON fragment is still crosvm's, not segstate's JSON kvm_sregs.
        let forced = opened(&dir.join("vcpu/vcpu0"), Some(InputFormat::Crosvm));
        assert_eq!(inputs(forced).len(), 1);
    }

    #[test]
    fn a_cloud_hypervisor_snapshot_directory() {
        read_by_path(
            &fixture("cloud-hypervisor/user-null-ss"),
            None,
            InputFormat::CloudHypervisor,
        );
        // Its state.json alone is a stream, read to the same states.
        let file = fixture("cloud-hypervisor/user-null-ss/state.json");
        let o = opened(&file, None);
        assert!(o.foreign_vcpus().is_none());
        let by_dir = inputs(opened(&fixture("cloud-hypervisor/user-null-ss"), None));
        assert_eq!(summary(&inputs(o)), summary(&by_dir));
    }

    #[test]
    fn a_hyperv_storage_file_unless_another_format_is_named() {
        let vmrs = fixture("hyperv/partition-state-2vp.vmrs");
        read_by_path(&vmrs, None, InputFormat::HyperV);
        read_by_path(&vmrs, Some(InputFormat::HyperV), InputFormat::HyperV);
        // The bare blob has no HyperVStorage signature: a stream.
        let blob = opened(&fixture("hyperv/partition-state-2vp.bin"), None);
        assert!(blob.foreign_vcpus().is_none());
        assert_eq!(inputs(blob).len(), 2);
        // Named as something else, the container is read as that, and refused naming it.
        let e = opened(&vmrs, Some(InputFormat::Firecracker))
            .read_each(&mut |_| panic!("nothing is read"))
            .unwrap_err();
        assert_eq!(e.input, InputName::Path(vmrs));
    }

    #[test]
    fn a_firecracker_state_file_is_a_stream() {
        let file = fixture("firecracker/user-null-ss.vmstate");
        let o = opened(&file, None);
        assert!(o.foreign_vcpus().is_none());
        let got = inputs(o);
        assert_eq!(
            summary(&got),
            summary(&foreign_inputs(&foreign_vcpus_at(&file).unwrap()).unwrap())
        );
    }

    #[test]
    fn a_snapshot_directory_that_cannot_be_read_names_its_file() {
        let dir = std::env::temp_dir().join(format!("segstate-open-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state.json");
        std::fs::write(&state, b"{\"snapshots\": [").unwrap();
        let e = open_path(&dir, None).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let OpenError::Foreign(ref inner) = e else {
            panic!("expected the reader's refusal, got {e:?}");
        };
        assert_eq!(inner.file, state.display().to_string());
        assert!(
            e.to_string().starts_with(&state.display().to_string()),
            "{e}"
        );
    }
}
