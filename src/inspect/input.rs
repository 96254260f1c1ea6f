//! What `inspect` is given: a plain binary, an OCI layout, a `docker save`
//! archive or a registry reference, named by scheme or recognised.
//!
//! The schemes are those of skopeo and syft: `file:PATH`, `oci-dir:DIR[:TAG]`
//! (also `oci:`), `docker-archive:FILE[:REF]`, `registry:REF` and
//! `docker://REF`. Without one, a path (it starts with `/`, `.` or `~`, or
//! exists) is looked at — a directory with `oci-layout` is a layout, a tar
//! holding `manifest.json` a `docker save` archive, anything else a file as
//! before — and what is neither is a registry reference.

use std::fmt;
use std::path::{Path, PathBuf};

use super::image::docker_archive::{self, DockerArchive};
use super::image::oci_layout::OciLayout;
use super::image::registry::Registry;
use super::image::store::DirStore;
use super::image::{ImageSource, SourceError};

/// One input, as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A plain executable file.
    File(PathBuf),
    /// An OCI image layout directory, and the tag to pick in it.
    OciDir {
        /// The layout's directory.
        dir: PathBuf,
        /// `org.opencontainers.image.ref.name` of the image to read.
        tag: Option<String>,
    },
    /// A `docker save` archive, and the image to pick in it.
    DockerArchive {
        /// The archive.
        file: PathBuf,
        /// One of its `RepoTags`.
        reference: Option<String>,
    },
    /// A registry reference.
    Registry(String),
}

/// An image input opened: its source and, when known, its full name.
pub struct Opened {
    /// Where its manifests and blobs come from.
    pub source: Box<dyn ImageSource>,
    /// `registry/path:tag` when the input records it (for `-o policy`).
    pub image_name: Option<String>,
}

impl Input {
    /// Reads one command-line argument.
    pub fn parse(text: &str) -> Input {
        if let Some(path) = text.strip_prefix("file:") {
            return Input::File(path.into());
        }
        if let Some(rest) = text
            .strip_prefix("oci-dir:")
            .or_else(|| text.strip_prefix("oci:"))
        {
            let (dir, tag) = split_suffix(rest, Path::is_dir);
            return Input::OciDir { dir, tag };
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let (file, reference) = split_suffix(rest, Path::is_file);
            return Input::DockerArchive { file, reference };
        }
        if let Some(reference) = text
            .strip_prefix("registry:")
            .or_else(|| text.strip_prefix("docker://"))
        {
            return Input::Registry(reference.to_owned());
        }
        sniff(text)
    }

    /// Opens an image input (a plain file is not one); a registry reference
    /// through `registry`.
    pub fn open(&self, registry: Option<&Registry>) -> Result<Opened, SourceError> {
        match self {
            Input::File(path) => Err(SourceError::Invalid {
                what: path.display().to_string(),
                detail: "a plain file, not an image".into(),
            }),
            Input::OciDir { dir, tag } => OciLayout::open(
                DirStore::new(dir),
                format!("oci-dir:{}", dir.display()),
                tag.as_deref(),
            )
            .map(|layout| Opened {
                image_name: layout.image_name().map(str::to_owned),
                source: Box::new(layout),
            }),
            Input::DockerArchive { file, reference } => {
                DockerArchive::open(file, reference.as_deref()).map(|archive| Opened {
                    image_name: archive.image_name().map(str::to_owned),
                    source: Box::new(archive),
                })
            }
            Input::Registry(reference) => open_registry(reference, registry),
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::File(path) => write!(f, "{}", path.display()),
            Input::OciDir { dir, tag } => {
                write!(f, "oci-dir:{}", dir.display())?;
                tag.iter().try_for_each(|tag| write!(f, ":{tag}"))
            }
            Input::DockerArchive { file, reference } => {
                write!(f, "docker-archive:{}", file.display())?;
                reference.iter().try_for_each(|r| write!(f, ":{r}"))
            }
            Input::Registry(reference) => write!(f, "registry:{reference}"),
        }
    }
}

/// A registry reference opened on `registry`; its name is the reference as
/// given (what `-o policy` names the entry after).
fn open_registry(reference: &str, registry: Option<&Registry>) -> Result<Opened, SourceError> {
    let what = format!("registry:{reference}");
    let registry = registry.ok_or_else(|| SourceError::Unavailable {
        what: what.clone(),
        detail: "no registry client was set up".into(),
    })?;
    let source = registry
        .open(reference)
        .map_err(|error| SourceError::Invalid {
            what,
            detail: error.to_string(),
        })?;
    Ok(Opened {
        source: Box::new(source),
        image_name: Some(reference.to_owned()),
    })
}

/// `PATH[:SUFFIX]`: the whole text when it names what `exists` accepts, else
/// split at the first `:` whose left side does.
fn split_suffix(text: &str, exists: fn(&Path) -> bool) -> (PathBuf, Option<String>) {
    if exists(Path::new(text)) {
        return (text.into(), None);
    }
    text.match_indices(':')
        .map(|(at, _)| (&text[..at], &text[at + 1..]))
        .find(|(path, _)| exists(Path::new(path)))
        .or_else(|| text.rsplit_once(':'))
        .map_or((text.into(), None), |(path, suffix)| {
            (path.into(), Some(suffix.to_owned()))
        })
}

fn sniff(text: &str) -> Input {
    let path = Path::new(text);
    let looks_like_path = text.starts_with(['/', '.', '~']);
    if path.is_dir() && path.join("oci-layout").is_file() {
        return Input::OciDir {
            dir: path.into(),
            tag: None,
        };
    }
    if path.is_file() && docker_archive::is_docker_archive(path) {
        return Input::DockerArchive {
            file: path.into(),
            reference: None,
        };
    }
    if looks_like_path || path.exists() {
        Input::File(path.into())
    } else {
        Input::Registry(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_sniffing() {
        assert_eq!(Input::parse("file:agent"), Input::File("agent".into()));
        assert_eq!(
            Input::parse("oci-dir:/nonexistent/layout:v1"),
            Input::OciDir {
                dir: "/nonexistent/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            Input::parse("docker://registry.local:5000/agent:v1"),
            Input::Registry("registry.local:5000/agent:v1".into())
        );
        assert_eq!(
            Input::parse("/nonexistent/agent"),
            Input::File("/nonexistent/agent".into())
        );
        assert_eq!(
            Input::parse("grafana/promtail:2.9"),
            Input::Registry("grafana/promtail:2.9".into())
        );
    }
}
