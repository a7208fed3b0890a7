//! Flag values checked where clap parses them, so each refusal says the range the flag
//! takes (and a negative number is judged, not taken for another flag).

use std::fmt;
use std::time::Duration;

/// The longest watchdog bound on one KVM_RUN.
pub const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// A flag value outside what the flag takes.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagError(String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

/// `--timeout SECONDS`: more than 0, at most [`MAX_TIMEOUT_SECONDS`].
pub fn timeout(s: &str) -> Result<Duration, FlagError> {
    let range = || format!("a number of seconds more than 0 and at most {MAX_TIMEOUT_SECONDS}");
    let v: f64 = s
        .parse()
        .map_err(|_| FlagError(format!("`{}` is not {}", s.escape_debug(), range())))?;
    if !(v > 0.0 && v <= MAX_TIMEOUT_SECONDS) {
        return Err(FlagError(format!("{v} is not {}", range())));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A count of at least one (`--jobs`, `--storm-cycles`): zero would do nothing while
/// looking like a run.
pub fn at_least_one<T: std::str::FromStr + TryFrom<u8> + PartialOrd>(
    s: &str,
) -> Result<T, FlagError> {
    let one = T::try_from(1).map_err(|_| FlagError(String::from("no count type")))?;
    match s.parse::<T>() {
        Ok(v) if v >= one => Ok(v),
        _ => Err(FlagError(format!(
            "`{}` is not a whole number of at least 1",
            s.escape_debug()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_take_the_range_they_say() {
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("3600"), Ok(Duration::from_secs(3600)));
        for bad in ["0", "-1", "3600.5", "nan", "inf", "x"] {
            let e = timeout(bad).unwrap_err().to_string();
            assert!(e.contains("more than 0 and at most 3600"), "{bad}: {e}");
        }
    }

    #[test]
    fn counts_start_at_one() {
        assert_eq!(at_least_one::<usize>("2"), Ok(2));
        assert_eq!(at_least_one::<u32>("1"), Ok(1));
        for bad in ["0", "-1", "", "1.5"] {
            assert!(at_least_one::<u32>(bad).is_err(), "{bad}");
        }
    }
}
