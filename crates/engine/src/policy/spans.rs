//! Where the values that [`Policy::validate`](super::Policy::validate) checks were written, to give its errors
//! a line. Read only when validation fails: a second, lenient pass over the text that
//! keeps the position of each list item and ignores everything else.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

type At = Spanned<IgnoredAny>;

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Doc {
    api_version: Option<At>,
    kind: Option<At>,
    catalog: Catalog,
    selectors: Vec<Spanned<Selector>>,
    skip_namespaces: Vec<At>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Catalog {
    add: Vec<Spanned<Entry>>,
    remove: Vec<At>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Entry {
    id: Option<At>,
    images: Vec<At>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Selector {
    match_expressions: Vec<Spanned<Expression>>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Expression {
    values: Option<At>,
}

/// The line where the value named by a validation key (`catalog.add[0].images[1]`,
/// `selectors[2].matchExpressions[0].values`, …) starts, if it can be found.
pub(super) fn line_of(text: &str, key: &str) -> Option<u64> {
    let doc: Doc = serde_saphyr::from_str_with_options(text, crate::yaml::options(text)).ok()?;
    let path: Vec<(&str, Option<usize>)> = key.split('.').map(segment).collect::<Option<_>>()?;
    let at = match path.as_slice() {
        [("apiVersion", None)] => doc.api_version?.referenced,
        [("kind", None)] => doc.kind?.referenced,
        [("skipNamespaces", Some(i))] => doc.skip_namespaces.get(*i)?.referenced,
        [("selectors", Some(i)), rest @ ..] => {
            let selector = doc.selectors.get(*i)?;
            match rest {
                [] => selector.referenced,
                [("matchExpressions", Some(j)), ("values", None)] => {
                    let expression = selector.value.match_expressions.get(*j)?;
                    expression
                        .value
                        .values
                        .as_ref()
                        .map_or(expression.referenced, |v| v.referenced)
                }
                _ => return None,
            }
        }
        [("catalog", None), ("remove", Some(i))] => doc.catalog.remove.get(*i)?.referenced,
        [("catalog", None), ("add", Some(i)), rest @ ..] => {
            let entry = doc.catalog.add.get(*i)?;
            match rest {
                [] => entry.referenced,
                [("id", None)] => entry.value.id.as_ref()?.referenced,
                [("images", Some(j))] => entry.value.images.get(*j)?.referenced,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(at.line())
}

/// `name` or `name[index]`.
fn segment(text: &str) -> Option<(&str, Option<usize>)> {
    match text.split_once('[') {
        None => Some((text, None)),
        Some((name, index)) => Some((name, Some(index.strip_suffix(']')?.parse().ok()?))),
    }
}
