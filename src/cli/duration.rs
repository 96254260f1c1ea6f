//! Duration flags (`--timeout 5m`), written like Go's `time.ParseDuration` and
//! kubectl's `--timeout`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration flag: `90s`, `5m`, `1h30m`, `500ms`; a bare number is seconds.
///
/// It prints back in the same notation, exactly (to the millisecond), so a default
/// given as a [`Duration`] shows in `--help` as it would be typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliDuration(pub Duration);

impl FromStr for CliDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(CliDuration(Duration::from_secs(seconds)));
        }
        let bad = || format!("{text:?} is not a duration (examples: 90s, 5m, 1h30m)");
        let mut total = Duration::ZERO;
        let mut rest = text;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .ok_or_else(bad)?;
            let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit_len = rest[digits..]
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len() - digits);
            let unit = &rest[digits..digits + unit_len];
            let seconds = match unit {
                "ms" => number / 1000.0,
                "s" => number,
                "m" => number * 60.0,
                "h" => number * 3600.0,
                _ => return Err(bad()),
            };
            total += Duration::from_secs_f64(seconds);
            rest = &rest[digits + unit_len..];
        }
        Ok(CliDuration(total))
    }
}

impl fmt::Display for CliDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_millis() != 0 {
            return write!(f, "{}ms", self.0.as_millis());
        }
        let secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl_timeouts() {
        let d = |s: &str| s.parse::<CliDuration>().map(|d| d.0);
        assert_eq!(d("90"), Ok(Duration::from_secs(90)));
        assert_eq!(d("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(d("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(d("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(d("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(d("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(d("").is_err());
        assert!(d("5 minutes").is_err());
        assert!(d("m").is_err());
    }

    #[test]
    fn durations_print_as_typed() {
        let show = |d: Duration| CliDuration(d).to_string();
        assert_eq!(show(Duration::ZERO), "0s");
        assert_eq!(show(Duration::from_secs(2)), "2s");
        assert_eq!(show(Duration::from_secs(300)), "5m");
        assert_eq!(show(Duration::from_secs(5400)), "1h30m");
        assert_eq!(show(Duration::from_secs(3601)), "1h1s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn printed_durations_parse_back_to_themselves() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_secs(2),
            Duration::from_secs(300),
            Duration::from_secs(3601),
            Duration::from_millis(5_400_500),
        ] {
            let printed = CliDuration(d).to_string();
            assert_eq!(
                printed.parse::<CliDuration>(),
                Ok(CliDuration(d)),
                "{printed}"
            );
        }
    }
}
