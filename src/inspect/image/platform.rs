//! Platforms: `os/arch[/variant]` as indexes and image configs name them, how
//! one asked for matches one offered, and `--platform`'s choice of one or all.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OS, architecture and optional variant: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, … when the architecture has variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/amd64`: the default, as for `docker pull` on most nodes.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// Whether an image built for `self` is what was asked for. A request
    /// without a variant takes any variant (as `docker pull --platform
    /// linux/arm64` takes `linux/arm64/v8`).
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Why a `--platform` value is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {0:?} is not os/architecture[/variant] (e.g. linux/amd64) or \"all\"")]
pub struct BadPlatform(pub String);

impl FromStr for Platform {
    type Err = BadPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let word =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts.as_slice() {
            [os, arch] if word(os) && word(arch) => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: None,
            }),
            [os, arch, variant] if word(os) && word(arch) && word(variant) => Ok(Platform {
                os: (*os).into(),
                architecture: (*arch).into(),
                variant: Some((*variant).into()),
            }),
            _ => Err(BadPlatform(s.into())),
        }
    }
}

/// Which images of a multi-platform index to inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformChoice {
    /// The one image for this platform.
    One(Platform),
    /// Every image in the index (`--platform all`).
    All,
}

impl Default for PlatformChoice {
    fn default() -> Self {
        PlatformChoice::One(Platform::linux_amd64())
    }
}

impl FromStr for PlatformChoice {
    type Err = BadPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            Ok(PlatformChoice::All)
        } else {
            s.parse().map(PlatformChoice::One)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_refuse() {
        assert_eq!(
            "linux/arm64/v8".parse::<Platform>().unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            "all".parse::<PlatformChoice>().unwrap(),
            PlatformChoice::All
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }
}
