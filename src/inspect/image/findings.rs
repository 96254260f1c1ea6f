//! What one image holds, as `inspect` reports and caches it: the programs its
//! config starts, the executables found, and the image's verdict.
//!
//! An image's verdict is the worst of its Go binaries' (at risk, then unknown,
//! then safe), the entrypoint's first on a tie. Not only the entrypoint's: a
//! shell entrypoint often starts the agent, and `GODEBUG` set on the container
//! reaches every Go process it starts, so one at-risk binary makes the image a
//! target.

use serde::{Deserialize, Serialize};

use netdns_guard_buildinfo::{Assessment, GoBinary, Risk};

use super::manifest::ImageConfig;
use super::tree::{DEFAULT_PATH, Found, Node, Tree};

/// How a program is started by the image's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// `ENTRYPOINT[0]`.
    Entrypoint,
    /// `CMD[0]` (a program of its own when there is no entrypoint, or often
    /// the program an entrypoint script runs).
    Command,
    /// Any other executable in the image.
    Other,
}

/// A program the config names, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Entrypoint or command.
    pub role: Role,
    /// As the config writes it.
    pub name: String,
    /// The executable it resolves to, when it does.
    pub path: Option<String>,
}

/// One executable kept for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executable {
    /// Its path in the image, with a leading `/`.
    pub path: String,
    /// Entrypoint, command, or other.
    pub role: Role,
    /// What was read from it.
    pub found: Found,
}

/// What an image holds: the cached part of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    /// The programs the config starts.
    pub programs: Vec<Program>,
    /// Go binaries, ELF files that could not be read, and the programs the
    /// config starts whatever they are; entrypoint and command first.
    pub executables: Vec<Executable>,
    /// How many executable regular files the image holds.
    pub executables_seen: usize,
}

/// The image's verdict, worst first (the order is used to pick the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageRisk {
    /// A Go binary can take the cgo resolver.
    AtRisk,
    /// A Go binary does not say, or an ELF file could not be read.
    Unknown,
    /// Every Go binary is safe.
    Safe,
    /// No Go binary, and no ELF file left unread.
    NotGo,
}

impl std::fmt::Display for ImageRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ImageRisk::AtRisk => "at risk",
            ImageRisk::Unknown => "unknown",
            ImageRisk::Safe => "safe",
            ImageRisk::NotGo => "not Go",
        })
    }
}

/// The image's verdict and the sentence that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageVerdict {
    /// How worried to be.
    pub risk: ImageRisk,
    /// e.g. `at risk: CGO_ENABLED=1 and no netgo tag (/usr/bin/agent, go1.22.3)`.
    pub evidence: String,
}

impl Findings {
    /// Reads the findings out of the tree the layers left.
    pub fn from_tree(tree: &Tree, config: &ImageConfig) -> Findings {
        let path_var = config
            .env
            .iter()
            .rev()
            .find_map(|item| item.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let cwd = config.working_dir.as_deref().unwrap_or("/");
        let named = [
            (Role::Entrypoint, config.entrypoint.first()),
            (Role::Command, config.cmd.first()),
        ];
        let programs: Vec<Program> = named
            .into_iter()
            .filter_map(|(role, name)| {
                let name = name.filter(|name| !name.is_empty())?;
                Some(Program {
                    role,
                    name: name.clone(),
                    path: tree
                        .find_program(name, path_var, cwd)
                        .map(|path| format!("/{path}")),
                })
            })
            .collect();
        let mut executables: Vec<Executable> = Vec::new();
        for program in &programs {
            let Some(path) = &program.path else { continue };
            if let Some(Node::Executable(found)) = tree.get(&path[1..])
                && !executables.iter().any(|e| e.path == *path)
            {
                executables.push(Executable {
                    path: path.clone(),
                    role: program.role,
                    found: found.clone(),
                });
            }
        }
        let mut executables_seen = 0;
        for (path, found) in tree.executables() {
            executables_seen += 1;
            let kept = matches!(
                found,
                Found::Go { .. } | Found::TooLarge { .. } | Found::Damaged { .. }
            );
            if kept && !executables.iter().any(|e| e.path[1..] == *path) {
                executables.push(Executable {
                    path: format!("/{path}"),
                    role: Role::Other,
                    found: found.clone(),
                });
            }
        }
        Findings {
            programs,
            executables,
            executables_seen,
        }
    }

    /// The Go binaries, with their assessments, in report order.
    pub fn go_binaries(&self) -> impl Iterator<Item = (&Executable, &GoBinary, Assessment)> {
        self.executables.iter().filter_map(|e| match &e.found {
            Found::Go { binary } => Some((e, binary.as_ref(), binary.assess())),
            _ => None,
        })
    }

    /// The image's verdict.
    pub fn verdict(&self) -> ImageVerdict {
        let rank = |risk: Risk| match risk {
            Risk::AtRisk => 0,
            Risk::Unknown => 1,
            Risk::Safe => 2,
        };
        let worst = self
            .go_binaries()
            .min_by_key(|(_, _, assessment)| rank(assessment.risk));
        let unread = self
            .executables
            .iter()
            .find(|e| matches!(e.found, Found::TooLarge { .. } | Found::Damaged { .. }));
        // A safe binary does not outweigh an ELF file that could not be read.
        if let Some((exe, binary, assessment)) = worst
            && (assessment.risk != Risk::Safe || unread.is_none())
        {
            let risk = match assessment.risk {
                Risk::AtRisk => ImageRisk::AtRisk,
                Risk::Unknown => ImageRisk::Unknown,
                Risk::Safe => ImageRisk::Safe,
            };
            return ImageVerdict {
                risk,
                evidence: format!(
                    "{risk}: {} ({}, {})",
                    assessment.verdict.reason(),
                    exe.path,
                    binary.build.go_version
                ),
            };
        }
        if let Some(unread) = unread {
            let why = match &unread.found {
                Found::TooLarge { size } => format!("{size} bytes, over --max-file-bytes"),
                Found::Damaged { error } => error.clone(),
                _ => String::new(),
            };
            return ImageVerdict {
                risk: ImageRisk::Unknown,
                evidence: format!(
                    "unknown: ELF file {} could not be read ({why})",
                    unread.path
                ),
            };
        }
        ImageVerdict {
            risk: ImageRisk::NotGo,
            evidence: format!(
                "not Go: no Go binary among {} executable files",
                self.executables_seen
            ),
        }
    }
}
