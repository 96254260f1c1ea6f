//! A cost estimate of CEL expressions over a pod of a given size, following the
//! cost rules of cel-go's runtime cost tracker as Kubernetes configures it (strict
//! costs for library functions):
//! - reading a variable or a field, and most calls: 1; `has()`: 1 (Kubernetes
//!   counts 0: the estimate rounds up);
//! - a list literal 10, a map literal 30, a struct literal (`JSONPatch{…}`) 40, plus
//!   their elements;
//! - string functions (`contains`, `startsWith`, `split`, `substring`, `indexOf`,
//!   `trim`, `lowerAscii`, `join`, `==`, `+`, …): one tenth of the characters they
//!   traverse, rounded up; `matches` and `find`: that times a quarter of the
//!   regular expression's length;
//! - `in` and the list library's `indexOf`/`lastIndexOf` on a list: one comparison
//!   per element;
//! - a comprehension (`map`, `filter`, `exists`): its range, then per element its
//!   condition and step (appending to the accumulator counts 1), then its result.
//!
//! The estimate walks the parsed expression once, with the size of every list and
//! string bounded by a [`PodSize`] (every container has the same number of env
//! entries, four volume mounts, every string its maximum length; the pod has 16
//! dnsConfig options and a volume per container), so it is an upper bound for such a
//! pod, not a measurement. A string split (a GODEBUG value, an image reference)
//! gives at most `split_items` items, none longer than a field.

#![allow(dead_code)]

use std::collections::BTreeMap;

use cel::Env;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};

/// The pod an estimate is for: every bound the expressions' cost depends on.
#[derive(Debug, Clone, Copy)]
pub struct PodSize {
    pub init_containers: u64,
    pub containers: u64,
    pub env_per_container: u64,
    /// Longest image reference, container name, env name and value.
    pub string_len: u64,
    pub annotations: u64,
    /// Most items a string is split into (GODEBUG items, `@`-separated parts).
    pub split_items: u64,
}

/// What an expression's value looks like, as far as cost goes.
#[derive(Debug, Clone)]
enum Shape {
    Str(u64),
    Scalar,
    /// Length, element, and a bound on the elements' lengths added up.
    List(u64, Box<Shape>, u64),
    Object(BTreeMap<String, Shape>),
}

impl Shape {
    fn len(&self) -> u64 {
        match self {
            Shape::Str(n) | Shape::List(n, _, _) => *n,
            Shape::Object(fields) => fields.len() as u64,
            Shape::Scalar => 1,
        }
    }
    fn element(&self) -> Shape {
        match self {
            Shape::List(_, e, _) => (**e).clone(),
            Shape::Object(fields) => fields
                .values()
                .max_by_key(|s| s.len())
                .cloned()
                .unwrap_or(Shape::Scalar),
            Shape::Str(n) => Shape::Str(*n),
            Shape::Scalar => Shape::Scalar,
        }
    }
    fn field(&self, name: &str, default_len: u64) -> Shape {
        match self {
            Shape::Object(fields) => fields.get(name).cloned().unwrap_or(Shape::Str(default_len)),
            _ => Shape::Str(default_len),
        }
    }
}

fn object(fields: &[(&str, Shape)]) -> Shape {
    Shape::Object(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn list_of(n: u64, element: Shape) -> Shape {
    let total = n * element.len();
    Shape::List(n, Box::new(element), total)
}

/// The bound on a list's elements' lengths added up (a string's own length).
fn total_of(shape: &Shape) -> u64 {
    match shape {
        Shape::List(_, _, total) => *total,
        other => other.len(),
    }
}

fn tenth(n: u64) -> u64 {
    n.div_ceil(10).max(1)
}

/// The shapes of `object` and `request` for a pod of `size`.
fn roots(size: PodSize) -> BTreeMap<String, Shape> {
    let s = Shape::Str(size.string_len);
    let env = object(&[
        ("name", s.clone()),
        ("value", s.clone()),
        ("valueFrom", object(&[])),
    ]);
    // Container names are DNS labels: at most 63 characters.
    let container = object(&[
        ("name", Shape::Str(63)),
        ("image", s.clone()),
        ("env", list_of(size.env_per_container, env)),
        (
            "volumeMounts",
            list_of(4, object(&[("name", s.clone()), ("mountPath", s.clone())])),
        ),
    ]);
    let list = |n| list_of(n, container.clone());
    let map = list_of(size.annotations, s.clone());
    let pod = object(&[
        (
            "metadata",
            object(&[
                ("annotations", map.clone()),
                ("labels", map),
                ("namespace", s.clone()),
            ]),
        ),
        (
            "spec",
            object(&[
                ("initContainers", list(size.init_containers)),
                ("containers", list(size.containers)),
            ]),
        ),
    ]);
    let mut roots = BTreeMap::new();
    roots.insert("object".to_owned(), pod);
    roots.insert(
        "request".to_owned(),
        object(&[("namespace", Shape::Str(63))]),
    );
    roots
}

struct Estimator {
    scopes: Vec<BTreeMap<String, Shape>>,
    string_len: u64,
    split_items: u64,
}

impl Estimator {
    fn lookup(&self, name: &str) -> Shape {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.get(name).cloned())
            .unwrap_or(Shape::Scalar)
    }

    fn cost(&mut self, e: &IdedExpr) -> (u64, Shape) {
        match &e.expr {
            Expr::Literal(LiteralValue::String(s)) => (0, Shape::Str(s.chars().count() as u64)),
            Expr::Literal(_) => (0, Shape::Scalar),
            Expr::Ident(name) => (1, self.lookup(name)),
            Expr::Select(select) => {
                let (c, shape) = self.cost(&select.operand);
                let field = shape.field(&select.field, self.string_len);
                (c + 1, if select.test { Shape::Scalar } else { field })
            }
            Expr::List(list) => {
                let mut cost = 10;
                let mut elem = Shape::Scalar;
                for item in &list.elements {
                    let (c, s) = self.cost(item);
                    cost += c;
                    elem = s;
                }
                (cost, list_of(list.elements.len() as u64, elem))
            }
            Expr::Map(map) => {
                let mut cost = 30;
                let mut fields = BTreeMap::new();
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        let (ck, key) = self.cost(&entry.key);
                        let (cv, value) = self.cost(&entry.value);
                        cost += ck + cv;
                        let name = match &entry.key.expr {
                            Expr::Literal(LiteralValue::String(s)) => s.to_string(),
                            _ => format!("#{}", key.len()),
                        };
                        fields.insert(name, value);
                    }
                }
                (cost, Shape::Object(fields))
            }
            Expr::Struct(s) => {
                let mut cost = 40;
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        cost += self.cost(&f.value).0;
                    }
                }
                (cost, Shape::Scalar)
            }
            Expr::Comprehension(c) => {
                let (range_cost, range) = self.cost(&c.iter_range);
                let n = range.len();
                let mut scope = BTreeMap::new();
                scope.insert(c.iter_var.clone(), range.element());
                let (init_cost, _) = self.cost(&c.accu_init);
                // The accumulator holds at most every element's step result.
                self.scopes.push(scope);
                let (cond_cost, _) = self.cost(&c.loop_cond);
                let (step_cost, step) = self.step_cost(&c.loop_step, &c.accu_var);
                self.scopes.pop();
                let mut result_scope = BTreeMap::new();
                // A map or filter whose elements are no longer than the range's (a
                // substring of each, or the elements themselves) adds up to no more.
                let accu = match step {
                    Shape::List(_, e, _) => {
                        let total = if e.len() <= range.element().len() {
                            total_of(&range).min(n * e.len())
                        } else {
                            n * e.len()
                        };
                        Shape::List(n, e, total)
                    }
                    other => other,
                };
                result_scope.insert(c.accu_var.clone(), accu);
                self.scopes.push(result_scope);
                let (result_cost, result) = self.cost(&c.result);
                self.scopes.pop();
                (
                    range_cost + init_cost + n * (cond_cost + step_cost) + result_cost,
                    result,
                )
            }
            Expr::Unspecified => (0, Shape::Scalar),
            Expr::Call(call) => self.call(&call.func_name, call.target.as_deref(), &call.args),
        }
    }

    /// A comprehension step: appending to the accumulator counts 1, not a copy.
    fn step_cost(&mut self, step: &IdedExpr, accu: &str) -> (u64, Shape) {
        self.scopes.push(BTreeMap::from([(
            accu.to_owned(),
            list_of(0, Shape::Scalar),
        )]));
        let result = self.cost(step);
        self.scopes.pop();
        result
    }

    fn call(&mut self, name: &str, target: Option<&IdedExpr>, args: &[IdedExpr]) -> (u64, Shape) {
        if name == "_?_:_" {
            let (cc, _) = self.cost(&args[0]);
            let (a, sa) = self.cost(&args[1]);
            let (b, sb) = self.cost(&args[2]);
            return (cc + a.max(b), if sa.len() >= sb.len() { sa } else { sb });
        }
        let mut cost = 0;
        let mut shapes = Vec::new();
        for e in target.into_iter().chain(args) {
            let (c, s) = self.cost(e);
            cost += c;
            shapes.push(s);
        }
        let len = |i: usize| shapes.get(i).map_or(1, Shape::len);
        let regex_len = |i: usize| shapes.get(i).map_or(1, Shape::len).div_ceil(4).max(1);
        let l = self.string_len;
        let (own, shape) = match name {
            "matches" | "find" => (tenth(len(0)) * regex_len(1), Shape::Str(len(0))),
            // Every string the policy splits is a field value or is made of the
            // items of one (a GODEBUG value re-joined), so an item is never longer
            // than a field.
            "split" => (
                tenth(len(0)),
                Shape::List(
                    (len(0) + 1).min(self.split_items),
                    Box::new(Shape::Str(len(0).min(l))),
                    len(0),
                ),
            ),
            "join" => {
                let total = total_of(&shapes[0]) + len(0);
                (tenth(total), Shape::Str(total))
            }
            "indexOf" | "lastIndexOf" if matches!(shapes.first(), Some(Shape::List(..))) => {
                (len(0) * tenth(shapes[0].element().len()), Shape::Scalar)
            }
            "contains" | "startsWith" | "endsWith" | "indexOf" | "lastIndexOf" => {
                (tenth(len(0)), Shape::Scalar)
            }
            "substring" | "trim" | "lowerAscii" => (tenth(len(0)), Shape::Str(len(0))),
            "_+_" => match (&shapes[0], &shapes[1]) {
                (Shape::List(a, e, t), Shape::List(b, f, u)) => {
                    let e = if e.len() >= f.len() {
                        e.clone()
                    } else {
                        f.clone()
                    };
                    (tenth(a + b), Shape::List(a + b, e, t + u))
                }
                _ => (tenth(len(0) + len(1)), Shape::Str(len(0) + len(1))),
            },
            "_==_" | "_!=_" => (tenth(len(0).min(len(1))), Shape::Scalar),
            "@in" => match &shapes[1] {
                Shape::List(n, e, _) => (n * tenth(e.len()), Shape::Scalar),
                _ => (1, Shape::Scalar),
            },
            "_[_]" => {
                let key = match args.get(1).map(|a| &a.expr) {
                    Some(Expr::Literal(LiteralValue::String(s))) => Some(s.to_string()),
                    _ => None,
                };
                let shape = match (&shapes[0], key) {
                    (Shape::Object(_), Some(k)) => shapes[0].field(&k, l),
                    (s, _) => s.element(),
                };
                (1, shape)
            }
            "string" | "dyn" => (1, shapes.first().cloned().unwrap_or(Shape::Str(l))),
            _ => (1, Shape::Scalar),
        };
        (cost + own, shape)
    }
}

/// The estimated cost of each named expression, in order, each reading the
/// shapes of the earlier ones as `variables.NAME`.
pub fn estimate(named: &[(String, String)], size: PodSize) -> Vec<(String, u64)> {
    // The parser recurses once per nested sub-expression: deeper than a test
    // thread's 2 MiB allow in a debug build.
    let named = named.to_vec();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || estimate_here(&named, size))
        .expect("spawn")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn estimate_here(named: &[(String, String)], size: PodSize) -> Vec<(String, u64)> {
    let env = Env::stdlib();
    let mut estimator = Estimator {
        scopes: vec![roots(size)],
        string_len: size.string_len,
        split_items: size.split_items,
    };
    let mut variables = BTreeMap::new();
    let mut costs = Vec::new();
    for (name, expression) in named {
        let ast = env
            .parser()
            .parse(expression)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        estimator.scopes[0].insert("variables".to_owned(), Shape::Object(variables.clone()));
        let (cost, shape) = estimator.cost(&ast);
        variables.insert(name.clone(), shape);
        costs.push((name.clone(), cost));
    }
    costs
}

/// Every function and operator an expression calls, and the struct types it builds.
pub fn functions(expression: &str) -> std::collections::BTreeSet<String> {
    fn walk(e: &IdedExpr, out: &mut std::collections::BTreeSet<String>) {
        match &e.expr {
            Expr::Call(call) => {
                out.insert(call.func_name.clone());
                call.target.iter().for_each(|t| walk(t, out));
                call.args.iter().for_each(|a| walk(a, out));
            }
            Expr::Select(s) => walk(&s.operand, out),
            Expr::List(l) => l.elements.iter().for_each(|x| walk(x, out)),
            Expr::Map(m) => m.entries.iter().for_each(|entry| {
                if let EntryExpr::MapEntry(entry) = &entry.expr {
                    walk(&entry.key, out);
                    walk(&entry.value, out);
                }
            }),
            Expr::Struct(s) => {
                out.insert(format!("struct {}", s.type_name));
                s.entries.iter().for_each(|entry| {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        walk(&f.value, out);
                    }
                });
            }
            Expr::Comprehension(c) => {
                for x in [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ] {
                    walk(x, out);
                }
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    let expression = expression.to_owned();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let ast = Env::stdlib().parser().parse(&expression).expect("parses");
            let mut out = std::collections::BTreeSet::new();
            walk(&ast, &mut out);
            out
        })
        .expect("spawn")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
