//! Evaluates an exported `MutatingAdmissionPolicy` the way the apiserver does, with
//! the `cel` crate: match conditions, then each variable in order (each may read the
//! earlier ones), then the JSONPatch mutation, whose `JSONPatch{…}` values become RFC
//! 6902 operations.
//!
//! The `cel` crate has the standard library, the strings extension, struct literals
//! and `matches` (Rust's regex, which agrees with RE2 on the syntax the policy
//! uses). What Kubernetes adds on top, and the policy uses, is declared here:
//! - `JSONPatch`, a struct type with `op`, `path`, `from` and `value` (dyn);
//! - `list.indexOf(x)` and `list.lastIndexOf(x)` from Kubernetes' list library;
//! - `string.find(regex)` from Kubernetes' regex library (the first match, or `''`).
//!
//! Each is a few lines with the library's documented semantics. Evaluation errors
//! are returned, never hidden: under `failurePolicy: Ignore` one would silently
//! leave the pod unchanged.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cel::common::types::{self, CelInt, CelString, CelStruct};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError, Program, StructType, Value as CelValue};
use serde_json::{Map, Value, json};

/// A compiled policy, ready to run on pods.
pub struct Evaluator {
    env: Arc<Env>,
    conditions: Vec<(String, Program)>,
    variables: Vec<(String, Program)>,
    mutation: Program,
}

/// What the policy does to one pod.
#[derive(Debug)]
pub enum Outcome {
    /// A match condition was false: the policy does not apply.
    NotMatched(String),
    /// The JSON Patch operations the mutation produced (possibly none), and the
    /// value of every variable by name.
    Patch {
        operations: Vec<Value>,
        variables: HashMap<String, Value>,
    },
}

/// Kubernetes' `find`: the first match of a regular expression, or `''`.
fn find(args: Vec<CowVal<'_, '_>>) -> Result<CowVal<'static, 'static>, ExecutionError> {
    let text = string_arg(&args[0])?;
    let pattern = string_arg(&args[1])?;
    let re = regex::Regex::new(&pattern)
        .map_err(|e| ExecutionError::function_error("find", e.to_string()))?;
    let found = re
        .find(&text)
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    Ok(CowVal::owned(CelString::from(found)))
}

fn string_arg(arg: &CowVal<'_, '_>) -> Result<String, ExecutionError> {
    match CelValue::try_from(&**arg)? {
        CelValue::String(s) => Ok(s.to_string()),
        other => Err(ExecutionError::function_error(
            "find",
            format!("not a string: {other:?}"),
        )),
    }
}

/// The position of `args[1]` in the list `args[0]`, first or last.
fn position(
    args: &[CowVal<'_, '_>],
    last: bool,
) -> Result<CowVal<'static, 'static>, ExecutionError> {
    let CelValue::List(list) = CelValue::try_from(&*args[0])? else {
        return Err(ExecutionError::function_error("indexOf", "not a list"));
    };
    let needle = CelValue::try_from(&*args[1])?;
    let mut found = list.iter().enumerate().filter(|(_, v)| **v == needle);
    let index = if last {
        found.next_back()
    } else {
        found.next()
    };
    Ok(CowVal::owned(CelInt::from(
        index.map_or(-1, |(i, _)| i as i64),
    )))
}

fn index_of(args: Vec<CowVal<'_, '_>>) -> Result<CowVal<'static, 'static>, ExecutionError> {
    position(&args, false)
}

fn last_index_of(args: Vec<CowVal<'_, '_>>) -> Result<CowVal<'static, 'static>, ExecutionError> {
    position(&args, true)
}

/// Kubernetes' `JSONPatch` type: `op`, `path` and `from` strings, `value` of any
/// type. (The `cel` crate's `StructDef` would want `value` to be exactly `dyn`.)
struct JsonPatchType(types::Type);

impl StructType for JsonPatchType {
    fn get_type(&self) -> &types::Type {
        &self.0
    }

    fn new_value<'b, 'v>(
        &self,
        fields: BTreeMap<String, CowVal<'b, 'v>>,
    ) -> Result<Box<dyn Val + 'v>, ExecutionError> {
        let mut patch = CelStruct::new("JSONPatch".to_owned());
        for (field, value) in fields {
            let want = match field.as_str() {
                "op" | "path" | "from" => types::STRING_TYPE,
                "value" => types::DYN_TYPE,
                _ => {
                    return Err(ExecutionError::function_error(
                        "JSONPatch",
                        format!("no field {field}"),
                    ));
                }
            };
            if !want.is_assignable(&*value) {
                return Err(ExecutionError::function_error(
                    "JSONPatch",
                    format!("field {field}: not a {}", want.name()),
                ));
            }
            patch.add_field_value(field, value);
        }
        Ok(Box::new(patch))
    }
}

/// The standard library, the strings extension and Kubernetes' additions above.
fn kubernetes_env() -> Env {
    let mut env = Env::stdlib();
    cel::extensions::strings(&mut env).expect("strings extension");
    env.add_member_overload(
        "indexOf",
        "list_indexOf",
        types::LIST_TYPE,
        vec![types::DYN_TYPE],
        index_of,
    )
    .expect("list indexOf");
    env.add_member_overload(
        "lastIndexOf",
        "list_lastIndexOf",
        types::LIST_TYPE,
        vec![types::DYN_TYPE],
        last_index_of,
    )
    .expect("list lastIndexOf");
    env.add_member_overload(
        "find",
        "string_find",
        types::STRING_TYPE,
        vec![types::STRING_TYPE],
        find,
    )
    .expect("find");
    env.add_type(JsonPatchType(types::Type::new_struct(
        "JSONPatch".to_owned(),
    )))
    .expect("JSONPatch type");
    env
}

fn compile(env: &Env, what: &str, expression: &str) -> Result<Program, String> {
    env.compile(expression)
        .map_err(|e| format!("{what}: does not parse: {e}\n{expression}"))
}

fn named(list: &Value, env: &Env, what: &str) -> Result<Vec<(String, Program)>, String> {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            let expression = item["expression"].as_str().unwrap_or_default();
            Ok((
                name.clone(),
                compile(env, &format!("{what} {name}"), expression)?,
            ))
        })
        .collect()
}

impl Evaluator {
    /// Compiles the expressions of an exported `MutatingAdmissionPolicy` object.
    pub fn new(policy: &Value) -> Result<Self, String> {
        let env = kubernetes_env();
        let spec = &policy["spec"];
        let conditions = named(&spec["matchConditions"], &env, "matchCondition")?;
        let variables = named(&spec["variables"], &env, "variable")?;
        let mutations = spec["mutations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let [mutation] = mutations else {
            return Err(format!("expected one mutation, got {}", mutations.len()));
        };
        if mutation["patchType"] != "JSONPatch" {
            return Err(format!("not a JSONPatch mutation: {mutation}"));
        }
        let expression = mutation["jsonPatch"]["expression"]
            .as_str()
            .unwrap_or_default();
        let mutation = compile(&env, "mutation", expression)?;
        Ok(Evaluator {
            env: Arc::new(env),
            conditions,
            variables,
            mutation,
        })
    }

    /// Runs the policy on a pod being created in `namespace`.
    pub fn run(&self, pod: &Value, namespace: &str) -> Result<Outcome, String> {
        let mut ctx = Context::with_env(Arc::clone(&self.env));
        ctx.add_variable("object", pod).map_err(|e| e.to_string())?;
        ctx.add_variable("oldObject", Value::Null)
            .map_err(|e| e.to_string())?;
        ctx.add_variable("request", super::cel_request::pod_create_request(namespace))
            .map_err(|e| e.to_string())?;
        for (name, program) in &self.conditions {
            match program.execute(&ctx) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => return Ok(Outcome::NotMatched(name.clone())),
                other => return Err(format!("matchCondition {name}: {other:?}")),
            }
        }
        let mut values: HashMap<String, CelValue> = HashMap::new();
        for (name, program) in &self.variables {
            ctx.add_variable_from_value("variables", values.clone());
            let value = program
                .execute(&ctx)
                .map_err(|e| format!("variable {name}: {e}"))?;
            values.insert(name.clone(), value);
        }
        ctx.add_variable_from_value("variables", values.clone());
        let result = self
            .mutation
            .execute(&ctx)
            .map_err(|e| format!("mutation: {e}"))?;
        let CelValue::List(items) = result else {
            return Err(format!("mutation did not give a list: {result:?}"));
        };
        let operations = items
            .iter()
            .map(json_patch_operation)
            .collect::<Result<Vec<_>, _>>()?;
        let variables = values
            .iter()
            .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
            .collect::<Result<_, String>>()?;
        Ok(Outcome::Patch {
            operations,
            variables,
        })
    }
}

/// One `JSONPatch{…}` value as an RFC 6902 operation.
fn json_patch_operation(value: &CelValue) -> Result<Value, String> {
    let CelValue::Struct(s) = value else {
        return Err(format!("not a JSONPatch value: {value:?}"));
    };
    if s.name() != "JSONPatch" {
        return Err(format!("a {} value, not JSONPatch", s.name()));
    }
    let mut op = Map::new();
    for (field, v) in s.field_values() {
        let v = CelValue::try_from(v.as_ref()).map_err(|e| e.to_string())?;
        op.insert(field, to_json(&v)?);
    }
    Ok(Value::Object(op))
}

/// A CEL value as JSON, as the apiserver marshals a JSONPatch value.
pub fn to_json(value: &CelValue) -> Result<Value, String> {
    Ok(match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Int(i) => json!(i),
        CelValue::UInt(u) => json!(u),
        CelValue::Float(f) => json!(f),
        CelValue::String(s) => Value::String(s.to_string()),
        CelValue::List(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        CelValue::Map(map) => {
            let mut out = Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => s.to_string(),
                    other => return Err(format!("a map key that is not a string: {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        other => return Err(format!("no JSON for {other:?}")),
    })
}
