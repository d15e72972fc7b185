//! Checks request bodies against Discord's own OpenAPI description of the v10 HTTP API.
//!
//! `discord-api/openapi.json` (MIT, from discord/discord-api-spec) describes every route and the
//! JSON it takes. The fake runs each body the bot sends through [`Spec::check_request`], so a
//! misspelt field, a too-long label or a wrong enum value fails a test here instead of being
//! rejected (or silently ignored) by Discord in production.
//!
//! The validator is deliberately small: it implements the subset of JSON Schema the spec uses
//! (`$ref`, `type` incl. arrays with `"null"`, `oneOf`/`anyOf`/`allOf`, `properties`,
//! `required`, `additionalProperties`, `enum`, `const`, string/array/object size limits, numeric bounds,
//! `uniqueItems`, `pattern` and a few `format`s).
//!
//! One deliberate addition to JSON Schema: request objects are checked *strictly*. A property the
//! spec does not describe is reported, because Discord ignores unknown fields, which is exactly
//! how a misspelt field name would go unnoticed in production. Responses (used only to self-check
//! the fake) are checked without that rule. The few fields serenity sends that Discord accepts
//! but the spec omits are listed, narrowly and with reasons, in [`ALLOWANCES`].

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

/// Where the spec lives, relative to the crate root.
const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/support/discord-api/openapi.json"
);

/// The parsed OpenAPI document, shared by every fake in the test process (parsing 1.2 MB once).
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH)
            .unwrap_or_else(|e| panic!("cannot read {SPEC_PATH}: {e}"));
        let root: Value = serde_json::from_str(&text).expect("openapi.json is valid JSON");
        Spec::new(root)
    })
}

/// One operation of the spec, found by method and concrete path.
#[derive(Clone, Debug)]
pub struct Operation<'a> {
    /// `operationId`, e.g. `create_message`.
    pub operation_id: &'a str,
    op: &'a Value,
    path_item: &'a Value,
}

/// Discord's OpenAPI document plus the lookups the fake needs.
pub struct Spec {
    root: Value,
    /// Path templates split into segments, for matching concrete paths.
    templates: Vec<(String, Vec<String>)>,
    /// The spec's `pattern`s, compiled once: compiling them for every body made the check
    /// the slowest part of the fake's answer. Shared, not cloned: a cloned `Regex` builds its
    /// matching caches afresh.
    patterns: std::sync::Mutex<
        std::collections::HashMap<String, Result<std::sync::Arc<regex::Regex>, String>>,
    >,
}

impl Spec {
    fn new(root: Value) -> Self {
        let templates = root["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .map(|t| (t.clone(), split_path(t)))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Spec {
            root,
            templates,
            patterns: Default::default(),
        }
    }

    /// Finds the operation for `method` (any case) on a concrete path below `/api/v10`,
    /// e.g. `("POST", "/channels/123/messages")`.
    ///
    /// When several templates match (`.../messages/@original` and `.../messages/{message_id}`),
    /// the one with the most literal segments wins, as in any router.
    pub fn operation(&self, method: &str, path: &str) -> Option<Operation<'_>> {
        let method = method.to_ascii_lowercase();
        let segments = split_path(path);
        let mut best: Option<(usize, &str)> = None;
        for (template, parts) in &self.templates {
            if parts.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            let matches = parts.iter().zip(&segments).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !s.is_empty()
                } else {
                    literals += 1;
                    t == s
                }
            });
            if matches
                && self.root["paths"][template.as_str()].get(&method).is_some()
                && best.is_none_or(|(n, _)| literals > n)
            {
                best = Some((literals, template));
            }
        }
        let (_, template) = best?;
        let path_item = &self.root["paths"][template];
        let op = &path_item[&method];
        Some(Operation {
            operation_id: op["operationId"].as_str().unwrap_or("?"),
            op,
            path_item,
        })
    }

    /// Validates a request: its query parameters and (if any) its JSON body.
    ///
    /// `body` is `None` when the request carried no body. Returns human-readable problems; empty
    /// means the request matches the spec.
    pub fn check_request(
        &self,
        op: &Operation<'_>,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        self.check_query(op, query, &mut errors);
        let request_body = &op.op["requestBody"];
        match (body, request_body.is_null()) {
            (None, false) if request_body["required"].as_bool() == Some(true) => {
                errors.push("the operation requires a request body but none was sent".into());
            }
            (Some(_), true) => {
                errors.push("the operation takes no request body but one was sent".into());
            }
            (Some(body), false) => {
                let schema = &request_body["content"]["application/json"]["schema"];
                if schema.is_null() {
                    errors.push("the operation has no application/json request body".into());
                } else {
                    let checker = Checker {
                        spec: self,
                        strict: true,
                    };
                    checker.check(schema, body, "$", &mut errors);
                }
            }
            _ => {}
        }
        errors
    }

    /// Validates a response body against the documented schema for `status` (used to check that
    /// the fake itself answers like Discord). Not strict about undocumented properties.
    pub fn check_response(&self, op: &Operation<'_>, status: u16, body: &Value) -> Vec<String> {
        let responses = &op.op["responses"];
        let Some(response) = responses.get(status.to_string()) else {
            return vec![format!(
                "status {status} is not documented for this operation"
            )];
        };
        let response = self.deref(response);
        let schema = &response["content"]["application/json"]["schema"];
        let mut errors = Vec::new();
        if !schema.is_null() {
            let checker = Checker {
                spec: self,
                strict: false,
            };
            checker.check(schema, body, "$", &mut errors);
        }
        errors
    }

    /// Query parameters: unknown names are reported (Discord ignores them, so they are a bug),
    /// known ones are checked against their schema after parsing the text as JSON where it looks
    /// like a number or boolean.
    fn check_query(
        &self,
        op: &Operation<'_>,
        query: &[(String, String)],
        errors: &mut Vec<String>,
    ) {
        let params: Vec<&Value> = op.op["parameters"]
            .as_array()
            .into_iter()
            .chain(op.path_item["parameters"].as_array())
            .flatten()
            .map(|p| self.deref(p))
            .filter(|p| p["in"] == "query")
            .collect();
        for (name, raw) in query {
            let Some(param) = params.iter().find(|p| p["name"] == name.as_str()) else {
                errors.push(format!(
                    "query parameter `{name}` is not described by the spec"
                ));
                continue;
            };
            let schema = &param["schema"];
            let wants_text = self.allows_type(schema, "string");
            let value = match raw.parse::<i64>() {
                Ok(n) if !wants_text => Value::from(n),
                _ => match raw.as_str() {
                    "true" | "false" if !wants_text => Value::Bool(raw == "true"),
                    _ => Value::String(raw.clone()),
                },
            };
            let checker = Checker {
                spec: self,
                strict: true,
            };
            checker.check(schema, &value, &format!("query `{name}`"), errors);
        }
    }

    fn allows_type(&self, schema: &Value, ty: &str) -> bool {
        let schema = self.deref(schema);
        match &schema["type"] {
            Value::String(t) => t == ty,
            Value::Array(ts) => ts.iter().any(|t| t == ty),
            _ => false,
        }
    }

    /// Follows `$ref` chains (`#/components/...`) to the referenced object.
    fn deref<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => value = self.resolve(reference),
                None => break,
            }
        }
        value
    }

    fn resolve(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $refs are supported, got {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {reference}"))
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// One validation run. `strict` turns on the "undocumented property" rule (requests only).
struct Checker<'s> {
    spec: &'s Spec,
    strict: bool,
}

impl Checker<'_> {
    /// Validates `value` against `schema`, appending problems (prefixed with the JSON path `at`).
    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        self.check_inner(schema, value, at, errors);
        if self.strict {
            self.check_undocumented(schema, value, at, errors);
        }
    }

    /// All keywords of one schema object except the strict-property rule, which needs the union
    /// of the properties of `allOf` branches and `$ref` targets and so is applied by the caller.
    fn check_inner(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(map) = schema.as_object() else {
            return; // `true`/`{}`-like schemas accept everything
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            self.check_inner(self.spec.resolve(reference), value, at, errors);
        }
        if let Some(branches) = map.get("allOf").and_then(Value::as_array) {
            for branch in branches {
                self.check_inner(branch, value, at, errors);
            }
        }
        if let Some(branches) = map.get("oneOf").and_then(Value::as_array) {
            self.check_alternatives(branches, value, at, errors, true);
        }
        if let Some(branches) = map.get("anyOf").and_then(Value::as_array) {
            self.check_alternatives(branches, value, at, errors, false);
        }

        if let Some(ty) = map.get("type") {
            if !type_matches(ty, map.get("format"), value) {
                errors.push(format!("{at}: expected type {ty}, got {}", describe(value)));
                return; // the remaining keywords would only repeat the same problem
            }
        }
        if let Some(constant) = map.get("const") {
            if !json_eq(constant, value) {
                errors.push(format!("{at}: {value} is not {constant}"));
            }
        }
        if let Some(options) = map.get("enum").and_then(Value::as_array) {
            if !options.iter().any(|o| json_eq(o, value)) {
                errors.push(format!(
                    "{at}: {value} is not one of {}",
                    Value::from(options.clone())
                ));
            }
        }
        match value {
            Value::String(s) => self.check_string(map, s, at, errors),
            Value::Number(_) => check_number(map, value, at, errors),
            Value::Array(items) => self.check_array(map, items, at, errors),
            Value::Object(object) => self.check_object(map, object, at, errors),
            _ => {}
        }
    }

    /// `oneOf` (exactly one branch) / `anyOf` (at least one). Each branch is a complete
    /// alternative for the value, so it is checked strictly on its own.
    fn check_alternatives(
        &self,
        branches: &[Value],
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
        exactly_one: bool,
    ) {
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|branch| {
                let mut errs = Vec::new();
                self.check(branch, value, at, &mut errs);
                errs
            })
            .collect();
        let matching = results.iter().filter(|e| e.is_empty()).count();
        // The spec writes enums as `oneOf` of `{title, const}`: report those as an enum.
        if matching == 0 && branches.iter().all(|b| b.get("const").is_some()) {
            let names: Vec<String> = branches.iter().map(branch_name).collect();
            errors.push(format!(
                "{at}: {value} is not one of [{}]",
                names.join(", ")
            ));
            return;
        }
        if matching == 0 {
            // Report the closest branch: usually the one whose `type` discriminator matched.
            let (index, closest) = results
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.len())
                .expect("oneOf/anyOf has branches");
            errors.push(format!(
                "{at}: matches none of the {} alternatives; closest ({}) says: {}",
                branches.len(),
                branch_name(&branches[index]),
                closest.join("; ")
            ));
        } else if exactly_one && matching > 1 {
            let names: Vec<String> = results
                .iter()
                .zip(branches)
                .filter(|(e, _)| e.is_empty())
                .map(|(_, b)| branch_name(b))
                .collect();
            errors.push(format!(
                "{at}: matches {matching} `oneOf` alternatives ({}), expected exactly one",
                names.join(", ")
            ));
        }
    }

    fn check_string(
        &self,
        map: &serde_json::Map<String, Value>,
        s: &str,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        // JSON Schema lengths count code points, not bytes.
        let len = s.chars().count() as u64;
        if let Some(max) = map.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                errors.push(format!(
                    "{at}: string of {len} characters exceeds maxLength {max}"
                ));
            }
        }
        if let Some(min) = map.get("minLength").and_then(Value::as_u64) {
            if len < min {
                errors.push(format!(
                    "{at}: string of {len} characters is below minLength {min}"
                ));
            }
        }
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str) {
            let compiled = {
                let mut patterns = self
                    .spec
                    .patterns
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                patterns
                    .entry(pattern.to_owned())
                    .or_insert_with(|| {
                        regex::Regex::new(pattern)
                            .map(std::sync::Arc::new)
                            .map_err(|e| e.to_string())
                    })
                    .clone()
            };
            match compiled {
                Ok(re) if !re.is_match(s) => {
                    errors.push(format!("{at}: {s:?} does not match pattern {pattern}"));
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("{at}: spec pattern {pattern} is invalid: {e}")),
            }
        }
        match map.get("format").and_then(Value::as_str) {
            Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
            }
            // A light check: an absolute URI starts with a scheme.
            Some("uri") if !s.contains(':') => {
                errors.push(format!("{at}: {s:?} is not an absolute URI"));
            }
            _ => {}
        }
    }

    fn check_array(
        &self,
        map: &serde_json::Map<String, Value>,
        items: &[Value],
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let len = items.len() as u64;
        if let Some(max) = map.get("maxItems").and_then(Value::as_u64) {
            if len > max {
                errors.push(format!("{at}: {len} items exceed maxItems {max}"));
            }
        }
        if let Some(min) = map.get("minItems").and_then(Value::as_u64) {
            if len < min {
                errors.push(format!("{at}: {len} items are below minItems {min}"));
            }
        }
        if map.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            let mut seen = BTreeSet::new();
            for item in items {
                if !seen.insert(item.to_string()) {
                    errors.push(format!(
                        "{at}: duplicate item {item} but uniqueItems is set"
                    ));
                }
            }
        }
        if let Some(item_schema) = map.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    fn check_object(
        &self,
        map: &serde_json::Map<String, Value>,
        object: &serde_json::Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(required) = map.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: missing required property `{name}`"));
                }
            }
        }
        let properties = map.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            let field_at = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => self.check(field_schema, field, &field_at, errors),
                None => {
                    if let Some(extra) = map.get("additionalProperties") {
                        if extra == &Value::Bool(false) {
                            errors.push(format!("{at}: property `{name}` is not allowed"));
                        } else if extra.is_object() {
                            self.check(extra, field, &field_at, errors);
                        }
                    }
                }
            }
        }
        let count = object.len() as u64;
        if let Some(max) = map.get("maxProperties").and_then(Value::as_u64) {
            if count > max {
                errors.push(format!(
                    "{at}: {count} properties exceed maxProperties {max}"
                ));
            }
        }
        if let Some(min) = map.get("minProperties").and_then(Value::as_u64) {
            if count < min {
                errors.push(format!(
                    "{at}: {count} properties are below minProperties {min}"
                ));
            }
        }
    }

    /// The strict rule: report properties of `value` that no `properties` in this schema, its
    /// `$ref` target or its `allOf` branches describes. Skipped when the schema says nothing
    /// about properties (free-form objects) or allows additional ones.
    fn check_undocumented(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        let Some(object) = value.as_object() else {
            return;
        };
        let mut known = BTreeSet::new();
        let mut names = Vec::new();
        let mut open = false;
        let mut describes_properties = false;
        self.collect_properties(
            schema,
            &mut known,
            &mut names,
            &mut open,
            &mut describes_properties,
        );
        if open || !describes_properties {
            return;
        }
        for (name, field) in object {
            let allowed = ALLOWANCES.iter().any(|a| {
                a.property == name && (a.accepts)(field) && names.iter().any(|n| (a.schema)(n))
            });
            if !known.contains(name.as_str()) && !allowed {
                errors.push(format!(
                    "{at}: property `{name}` is not described by the spec \
                     (Discord ignores unknown fields, so this is probably a typo or a stale field)"
                ));
            }
        }
    }

    /// Gathers the described property names, the names of the `$ref`ed schemas (for
    /// [`ALLOWANCES`]) and whether additional properties are allowed.
    fn collect_properties<'v>(
        &'v self,
        schema: &'v Value,
        known: &mut BTreeSet<&'v str>,
        names: &mut Vec<&'v str>,
        open: &mut bool,
        describes: &mut bool,
    ) {
        let Some(map) = schema.as_object() else {
            return;
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            names.push(reference.rsplit('/').next().unwrap_or(reference));
            self.collect_properties(self.spec.resolve(reference), known, names, open, describes);
        }
        for branch in map
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.collect_properties(branch, known, names, open, describes);
        }
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            *describes = true;
            known.extend(props.keys().map(String::as_str));
        }
        if map
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false))
        {
            *open = true;
        }
    }
}

/// A property the spec does not describe but Discord accepts and serenity sends. Each one is
/// limited to named schemas and to a value shape; everything else stays strict.
struct Allowance {
    /// Applies when the object's schema (or a schema it `$ref`s) has a matching name.
    schema: fn(&str) -> bool,
    property: &'static str,
    accepts: fn(&Value) -> bool,
    /// Why this is allowed: read by reviewers next to the rule, never by the code.
    #[expect(dead_code, reason = "documentation kept next to each allowance")]
    why: &'static str,
}

const COMMAND_OPTION_NEUTRAL: &str = "serenity 0.12.5 serializes every field of its CommandOption \
    model (no skip_serializing_if) for every option type, e.g. `channel_types: []` on a \
    subcommand. Discord ignores fields that do not apply to the option type, so only their \
    neutral values (false, [], null) are allowed; a real value on the wrong type is still reported.";

const ALLOWANCES: &[Allowance] = &[
    Allowance {
        schema: is_command_request,
        property: "nsfw",
        accepts: Value::is_boolean,
        why: "Discord documents `nsfw` (age-restricted command) on create/edit/bulk-overwrite \
              command requests and serenity always sends it; the spec only lists it in \
              ApplicationCommandResponse.",
    },
    Allowance {
        schema: is_command_option_request,
        property: "autocomplete",
        accepts: is_false,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "choices",
        accepts: is_empty_array,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "options",
        accepts: is_empty_array,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "channel_types",
        accepts: is_empty_array,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "min_value",
        accepts: Value::is_null,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "max_value",
        accepts: Value::is_null,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "min_length",
        accepts: Value::is_null,
        why: COMMAND_OPTION_NEUTRAL,
    },
    Allowance {
        schema: is_command_option_request,
        property: "max_length",
        accepts: Value::is_null,
        why: COMMAND_OPTION_NEUTRAL,
    },
];

fn is_command_request(schema: &str) -> bool {
    matches!(
        schema,
        "ApplicationCommandCreateRequest"
            | "ApplicationCommandUpdateRequest"
            | "ApplicationCommandPatchRequestPartial"
    )
}

/// `ApplicationCommandStringOption`, `ApplicationCommandSubcommandOption`, ... (requests only;
/// the response schemas end in `OptionResponse`).
fn is_command_option_request(schema: &str) -> bool {
    schema.starts_with("ApplicationCommand") && schema.ends_with("Option")
}

fn is_false(value: &Value) -> bool {
    value == &Value::Bool(false)
}

fn is_empty_array(value: &Value) -> bool {
    value.as_array().is_some_and(Vec::is_empty)
}

/// `type` keyword, including `["string", "null"]` arrays.
///
/// `format: snowflake` accepts non-negative integers as well as digit strings: Discord takes
/// both on input (serenity sends strings).
fn type_matches(ty: &Value, format: Option<&Value>, value: &Value) -> bool {
    let one = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => {
            value.is_string() || (format == Some(&Value::from("snowflake")) && value.is_u64())
        }
        // JSON Schema counts 1.0 as an integer (poise sends integer bounds as floats).
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    match ty {
        Value::String(t) => one(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(one),
        _ => true,
    }
}

/// Numeric bounds and integer formats, compared exactly where both sides are integers (the spec
/// has bounds such as 2^54-1 that `f64` cannot hold).
fn check_number(
    map: &serde_json::Map<String, Value>,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    fn as_i128(v: &Value) -> Option<i128> {
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
    }
    let below = |bound: &Value| match (as_i128(value), as_i128(bound)) {
        (Some(v), Some(b)) => v < b,
        _ => value.as_f64().unwrap_or(0.0) < bound.as_f64().unwrap_or(0.0),
    };
    let above = |bound: &Value| match (as_i128(value), as_i128(bound)) {
        (Some(v), Some(b)) => v > b,
        _ => value.as_f64().unwrap_or(0.0) > bound.as_f64().unwrap_or(0.0),
    };
    if let Some(min) = map.get("minimum") {
        if below(min) {
            errors.push(format!("{at}: {value} is below minimum {min}"));
        }
    }
    if let Some(max) = map.get("maximum") {
        if above(max) {
            errors.push(format!("{at}: {value} is above maximum {max}"));
        }
    }
    if map.get("format").and_then(Value::as_str) == Some("int32") {
        if let Some(v) = as_i128(value) {
            if v < i128::from(i32::MIN) || v > i128::from(i32::MAX) {
                errors.push(format!("{at}: {value} does not fit in int32"));
            }
        }
    }
}

/// Equality for `enum`, treating `1` and `1.0` alike.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    let shown: String = text.chars().take(60).collect();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("{kind} {shown}")
}

fn branch_name(branch: &Value) -> String {
    if let Some(r) = branch.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    match (branch.get("title"), branch.get("const"), branch.get("type")) {
        (Some(title), Some(c), _) => format!("{} = {c}", title.as_str().unwrap_or("?")),
        (_, Some(c), _) => format!("const {c}"),
        (_, _, Some(t)) => format!("type {t}"),
        _ => "inline schema".to_owned(),
    }
}
