//! The image's file system as its layers leave it, reduced to what `inspect`
//! needs: symbolic links (to follow the entrypoint through) and executable
//! regular files with what was read from each.
//!
//! Layers are applied bottom first, as a container runtime unpacks them: a
//! later entry at a path replaces an earlier one, a whiteout `.wh.NAME`
//! deletes `NAME` (and all below it), and an opaque marker `.wh..wh..opq`
//! hides everything the lower layers put in its directory. Paths are kept
//! without a leading `/`; a name with a `..` component is refused, since no
//! sound image writes one and a runtime would have to guess what it means.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use netdns_guard_buildinfo::GoBinary;

/// Prefix of a whiteout file name (OCI image spec, "Whiteouts").
const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Symbolic links followed in one lookup before giving up (Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// The `PATH` a container gets when its image sets none (runc's and
/// containerd's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What was read from one executable regular file: small, whatever the file's
/// size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Found {
    /// A Go executable and its build info.
    Go {
        /// What the binary says.
        binary: Box<GoBinary>,
    },
    /// ELF, but without Go build info.
    NotGo {
        /// What the reader said.
        why: String,
    },
    /// Not ELF (a script, a data file with an executable bit).
    NotElf,
    /// ELF, over `--max-file-bytes`: not read.
    TooLarge {
        /// Its size in bytes.
        size: u64,
    },
    /// ELF, but truncated or malformed.
    Damaged {
        /// What the reader said.
        error: String,
    },
}

/// A path the tree records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A symbolic link and its target, as written.
    Symlink(String),
    /// An executable regular file.
    Executable(Found),
}

#[derive(Debug, Clone)]
struct Entry {
    /// The layer that wrote it (an opaque marker hides only lower layers').
    layer: usize,
    node: Node,
}

/// A name in a layer that no image should hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {name:?} has a '..' component (path traversal)")]
pub struct BadName {
    /// The name as written in the tar (cut to 200 characters).
    pub name: String,
}

/// The merged view of the layers read so far.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

/// A tar entry name as a tree path: no leading `/` or `./`, no empty or `.`
/// components; `None` for the root itself.
pub fn normalize(name: &str) -> Result<Option<String>, BadName> {
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(BadName {
                    name: name.chars().take(200).collect(),
                });
            }
            part => parts.push(part),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// What a whiteout entry asks for, if the path is one.
enum Whiteout<'a> {
    /// Delete this path and all below it.
    Delete(String),
    /// Hide what lower layers put in this directory (`""` is the root).
    Opaque(&'a str),
}

fn whiteout(path: &str) -> Option<Whiteout<'_>> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if name == OPAQUE_MARKER {
        return Some(Whiteout::Opaque(dir));
    }
    let target = name.strip_prefix(WHITEOUT_PREFIX)?;
    // `.wh..wh.*` other than the opaque marker are AUFS bookkeeping: no whiteout.
    if target.starts_with(WHITEOUT_PREFIX) || target.is_empty() {
        return None;
    }
    Some(Whiteout::Delete(if dir.is_empty() {
        target.to_owned()
    } else {
        format!("{dir}/{target}")
    }))
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Applies a whiteout if `path` is one; says whether it was.
    pub fn apply_whiteout(&mut self, path: &str, layer: usize) -> bool {
        match whiteout(path) {
            Some(Whiteout::Delete(target)) => {
                self.entries.remove(&target);
                self.remove_below(&target, |_| true);
                true
            }
            Some(Whiteout::Opaque(dir)) => {
                let dir = dir.to_owned();
                self.remove_below(&dir, |entry| entry.layer < layer);
                true
            }
            None => false,
        }
    }

    /// Records what layer `layer` put at `path`: a node, or (`None`) something
    /// the tree does not keep (a directory, a plain file), which still
    /// replaces what was there.
    pub fn put(&mut self, path: String, layer: usize, node: Option<Node>) {
        match node {
            Some(node) => {
                self.entries.insert(path, Entry { layer, node });
            }
            None => {
                self.entries.remove(&path);
            }
        }
    }

    /// How many links and executables the tree holds.
    pub fn kept(&self) -> usize {
        self.entries.len()
    }

    /// The node at `path` exactly, without following links (hard links copy it).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.entries.get(path).map(|entry| &entry.node)
    }

    /// Every executable file, by path.
    pub fn executables(&self) -> impl Iterator<Item = (&str, &Found)> {
        self.entries
            .iter()
            .filter_map(|(path, entry)| match &entry.node {
                Node::Executable(found) => Some((path.as_str(), found)),
                Node::Symlink(_) => None,
            })
    }

    /// Deletes every entry strictly below `dir` (`""`: the whole tree) that
    /// `hide` selects.
    fn remove_below(&mut self, dir: &str, hide: impl Fn(&Entry) -> bool) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .filter(|(_, entry)| hide(entry))
            .map(|(path, _)| path.clone())
            .collect();
        for path in doomed {
            self.entries.remove(&path);
        }
    }

    /// Follows symbolic links in every component of the absolute or
    /// `cwd`-relative `path`, as the kernel would inside the container (`..`
    /// stops at the root). `None` when links loop.
    pub fn resolve(&self, path: &str, cwd: &str) -> Option<String> {
        let mut todo: Vec<String> = Vec::new();
        push_components(&mut todo, path);
        if !path.starts_with('/') {
            push_components(&mut todo, cwd);
        }
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => done.push(part),
            }
            let here = done.join("/");
            if let Some(Node::Symlink(target)) = self.get(&here) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                push_components(&mut todo, target);
            }
        }
        Some(done.join("/"))
    }

    /// Where the container runtime finds `program` (argv\[0\]): through `PATH`
    /// when it has no `/`, else from `cwd`. The path of an executable file, or
    /// `None`.
    pub fn find_program(&self, program: &str, path_var: &str, cwd: &str) -> Option<String> {
        let is_executable = |path: &String| matches!(self.get(path), Some(Node::Executable(_)));
        if program.contains('/') {
            return self.resolve(program, cwd).filter(is_executable);
        }
        path_var
            .split(':')
            .filter(|dir| !dir.is_empty())
            .filter_map(|dir| self.resolve(&format!("{dir}/{program}"), cwd))
            .find(is_executable)
    }
}

/// Pushes `path`'s components so that popping yields them first to last.
fn push_components(todo: &mut Vec<String>, path: &str) {
    todo.extend(path.split('/').rev().map(str::to_owned));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe() -> Option<Node> {
        Some(Node::Executable(Found::NotElf))
    }

    fn link(target: &str) -> Option<Node> {
        Some(Node::Symlink(target.into()))
    }

    fn paths(tree: &Tree) -> Vec<&str> {
        tree.executables().map(|(path, _)| path).collect()
    }

    #[test]
    fn names_normalize_and_traversal_is_refused() {
        assert_eq!(normalize("./usr/bin/x").unwrap().unwrap(), "usr/bin/x");
        assert_eq!(normalize("/usr//bin/./x").unwrap().unwrap(), "usr/bin/x");
        assert_eq!(normalize("./").unwrap(), None);
        assert!(normalize("usr/../../etc/passwd").is_err());
    }

    #[test]
    fn whiteouts_delete_and_opaque_hides_only_lower_layers() {
        let mut tree = Tree::new();
        tree.put("usr/bin/agent".into(), 0, exe());
        tree.put("opt/a/one".into(), 0, exe());
        tree.put("opt/a/sub/two".into(), 0, exe());
        tree.put("opt/ab".into(), 0, exe());
        assert!(tree.apply_whiteout("usr/bin/.wh.agent", 1));
        assert!(tree.apply_whiteout("opt/a/.wh..wh..opq", 1));
        tree.put("opt/a/three".into(), 1, exe());
        assert!(!tree.apply_whiteout("opt/.wh..wh.plnk", 1));
        assert_eq!(paths(&tree), ["opt/a/three", "opt/ab"]);
        // A directory whited out takes everything under it.
        assert!(tree.apply_whiteout(".wh.opt", 2));
        assert!(paths(&tree).is_empty());
    }

    #[test]
    fn programs_are_found_through_path_workdir_and_links() {
        let mut tree = Tree::new();
        tree.put("bin".into(), 0, link("usr/bin"));
        tree.put("usr/bin/agent".into(), 0, exe());
        tree.put("usr/local/bin/run".into(), 0, link("../../bin/agent"));
        tree.put("app/tool".into(), 0, link("/usr/bin/agent"));
        tree.put("loop".into(), 0, link("loop"));
        let path = DEFAULT_PATH;
        for (program, cwd) in [
            ("agent", "/"),
            ("/bin/agent", "/"),
            ("run", "/"),
            ("./tool", "/app"),
        ] {
            assert_eq!(
                tree.find_program(program, path, cwd).as_deref(),
                Some("usr/bin/agent"),
                "{program} from {cwd}"
            );
        }
        assert_eq!(tree.find_program("agent", "/nowhere", "/"), None);
        assert_eq!(tree.find_program("/loop", path, "/"), None);
        assert_eq!(
            tree.resolve("/../../bin/agent", "/"),
            Some("usr/bin/agent".into())
        );
    }
}
