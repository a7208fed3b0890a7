//! The field path (`Kvm.sregs.ss`, `msrs[1][3]`) at a line and column of a JSON text.
//!
//! serde_json's errors give a line and column and the decoder's message ("missing field
//! `dpl`", "invalid value: integer `256`, expected u8"), not the field being read. The
//! inner documents of a Cloud Hypervisor snapshot are one long line each, so the reader
//! names the field by scanning the text up to the error's position: the keys of the
//! objects and the indices of the arrays it is inside. The scan keeps a stack as deep
//! as the text nests, and stops at the position.

use std::string::{String, ToString};
use std::vec::Vec;

enum Frame {
    /// An object: the key whose value is being read, if any yet.
    Object(Option<String>),
    /// An array: the index of the element being read.
    Array(usize),
}

/// The byte offset of 1-based `line` and `column` in `text` (clamped to its end).
fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(n) => start += n + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

/// The path of the value being read at `line` and `column` of `text` (serde_json's
/// position of an error), `""` at the top level.
pub(super) fn at(text: &[u8], line: usize, column: usize) -> String {
    let end = offset(text, line, column);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match text[i] {
            b'"' => {
                let start = i + 1;
                i = start;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object(key @ None)) = stack.last_mut() {
                    *key = Some(String::from_utf8_lossy(&text[start..i.min(text.len())]).into());
                }
            }
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object(key)) => *key = None,
                Some(Frame::Array(n)) => *n += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => {
                path.push('[');
                path.push_str(&n.to_string());
                path.push(']');
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::at;

    /// The path serde_json's error position in `text` points into.
    fn path_of<T: serde::de::DeserializeOwned + core::fmt::Debug>(text: &str) -> String {
        let e = serde_json::from_str::<T>(text).unwrap_err();
        at(text.as_bytes(), e.line(), e.column())
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Seg {
        dpl: u8,
        l: u8,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Top {
        sregs: Sregs,
        list: Vec<[u8; 2]>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Sregs {
        cs: Seg,
        ss: Seg,
    }

    #[test]
    fn names_the_object_a_field_is_missing_from() {
        let t = r#"{"sregs": {"cs": {"dpl": 0, "l": 1}, "ss": {"l": 0}}, "list": []}"#;
        assert_eq!(path_of::<Top>(t), "sregs.ss");
    }

    #[test]
    fn names_the_field_whose_number_is_out_of_range() {
        let t = r#"{"sregs": {"cs": {"dpl": 0, "l": 1}, "ss": {"dpl": 256, "l": 0}}, "list": []}"#;
        assert_eq!(path_of::<Top>(t), "sregs.ss.dpl");
    }

    #[test]
    fn names_an_unknown_field_and_array_elements() {
        let t = r#"{"sregs": {"cs": {"dpl": 0, "l": 1, "x": 2}, "ss": {"dpl": 3, "l": 0}}}"#;
        assert_eq!(path_of::<Top>(t), "sregs.cs.x");
        let t = r#"{"sregs": {"cs": {"dpl": 0, "l": 1}, "ss": {"dpl": 3, "l": 0}}, "list": [[1, 2], [3, 999]]}"#;
        assert_eq!(path_of::<Top>(t), "list[1][1]");
        let t = "{\"a\\\"b\": {\"c\": [1,\n 2]}}";
        assert_eq!(at(t.as_bytes(), 2, 2), "a\\\"b.c[1]");
    }
}
