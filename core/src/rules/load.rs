//! Reading and validating the rule library from TOML, with compiler-style error reports.
//!
//! Every problem is collected (not just the first), each naming the file, the line, the rule
//! or template id and the field, so a community manager can fix a library in one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::matcher::{compile_pattern, MatcherBuilder};
use super::template::{Template, Wording, BUILTIN_PLACEHOLDERS, REPLY_MAX_CHARS};
use super::{
    AuthorFilter, Condition, Label, Lang, Lexicon, Library, Rule, RuleId, Scope, Severity,
    TemplateId, TermId, TermUse,
};
use crate::text::{normalize_phrase, WordSet};

/// One thing wrong in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// `rule \`id\`` or `template \`id\``, when the problem is inside one.
    pub item: Option<String>,
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(item) = &self.item {
            write!(f, "{item}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Why a library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot read the rule library at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the rule library at {dir} has {} problem(s):\n{}", problems.len(), list(problems))]
    Invalid {
        dir: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl LibraryError {
    /// The individual problems (an I/O failure is reported as one).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            LibraryError::Io { path, source } => vec![Problem {
                file: path.clone(),
                line: None,
                item: None,
                field: String::new(),
                message: source.to_string(),
                hint: None,
            }],
            LibraryError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    template: Vec<Spanned<RawTemplate>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    description: String,
    labels: Spanned<Vec<String>>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    suppresses: Vec<Spanned<String>>,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    severity: Option<Spanned<String>>,
    #[serde(default)]
    templates: Vec<Spanned<String>>,
    #[serde(default)]
    any: Option<RawTerms>,
    #[serde(default)]
    all: Option<RawTerms>,
    #[serde(default)]
    none: Option<RawTerms>,
    #[serde(default)]
    lexicon: Option<Spanned<RawLexicon>>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    exclude_channels: Vec<String>,
    #[serde(default)]
    author: Option<Spanned<String>>,
    #[serde(default)]
    dm: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTerms {
    #[serde(default)]
    words: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLexicon {
    threshold: f32,
    weights: BTreeMap<String, f32>,
    #[serde(default)]
    negators: Vec<String>,
    #[serde(default = "default_negation_window")]
    negation_window: usize,
    #[serde(default)]
    intensifiers: Vec<String>,
    #[serde(default = "default_intensifier_factor")]
    intensifier_factor: f32,
    #[serde(default)]
    all_caps: f32,
    #[serde(default)]
    exclamations: f32,
    #[serde(default)]
    fixed: Vec<String>,
}

fn default_negation_window() -> usize {
    3
}

fn default_intensifier_factor() -> f32 {
    1.5
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    id: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    en: Option<Spanned<RawBody>>,
    #[serde(default)]
    it: Option<Spanned<RawBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    wordings: Vec<Spanned<String>>,
}

/// One source file being checked: knows how to turn byte spans into line numbers.
struct FileCtx<'a> {
    path: &'a Path,
    /// Byte offset of every `\n` in the file, in order. Every rule asks for its line, so
    /// counting newlines from the top each time made loading one big file quadratic.
    newlines: Vec<usize>,
}

impl<'a> FileCtx<'a> {
    fn new(path: &'a Path, source: &str) -> FileCtx<'a> {
        let newlines = source
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        FileCtx { path, newlines }
    }

    /// The 1-based line of byte `offset`: one more than the newlines before it.
    fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&n| n < offset) + 1
    }

    fn problem(
        &self,
        offset: Option<usize>,
        item: Option<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: self.path.to_owned(),
            line: offset.map(|o| self.line(o)),
            item,
            field: field.into(),
            message: message.into(),
            hint: None,
        }
    }
}

fn with_hint(mut problem: Problem, hint: impl Into<String>) -> Problem {
    problem.hint = Some(hint.into());
    problem
}

/// Lists the `.toml` files under `dir`, sorted so reports and rule order are stable.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, LibraryError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| LibraryError::Io {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LibraryError::Io {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The language a file's rules read, from its folder (`rules/en/...`).
fn folder_language(dir: &Path, file: &Path) -> Option<Lang> {
    let relative = file.strip_prefix(dir).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Lang::from_code(first)
}

/// Loads, validates and compiles the library under `dir`.
///
/// `values` are the configured template values (`[templates.values]`): their names are the
/// placeholders templates may use besides the built-in ones, and their lengths count towards
/// Discord's message limit.
pub fn load(dir: &Path, values: &BTreeMap<String, String>) -> Result<Library, LibraryError> {
    let files = toml_files(dir)?;
    let mut sources = Vec::new();
    for path in files {
        let source = std::fs::read_to_string(&path).map_err(|source| LibraryError::Io {
            path: path.clone(),
            source,
        })?;
        sources.push((path, source));
    }
    load_sources(dir, &sources, values)
}

impl Library {
    /// See [`load`].
    pub fn load(dir: &Path, values: &BTreeMap<String, String>) -> Result<Library, LibraryError> {
        load(dir, values)
    }

    /// Builds a library from in-memory files (`(path, contents)`), as if read from `dir`.
    pub fn from_sources(
        dir: &Path,
        sources: &[(PathBuf, String)],
        values: &BTreeMap<String, String>,
    ) -> Result<Library, LibraryError> {
        load_sources(dir, sources, values)
    }
}

struct Builder<'v> {
    problems: Vec<Problem>,
    matcher: MatcherBuilder,
    rules: Vec<Rule>,
    rule_lines: HashMap<RuleId, (PathBuf, usize)>,
    templates: HashMap<TemplateId, Template>,
    template_lines: HashMap<TemplateId, (PathBuf, usize)>,
    /// Template references to check once every file is read: (rule, template, where).
    references: Vec<(RuleId, TemplateId, Problem)>,
    placeholders: BTreeSet<String>,
    values: &'v BTreeMap<String, String>,
}

fn load_sources(
    dir: &Path,
    sources: &[(PathBuf, String)],
    values: &BTreeMap<String, String>,
) -> Result<Library, LibraryError> {
    let mut b = Builder {
        problems: Vec::new(),
        matcher: MatcherBuilder::default(),
        rules: Vec::new(),
        rule_lines: HashMap::new(),
        templates: HashMap::new(),
        template_lines: HashMap::new(),
        references: Vec::new(),
        placeholders: BUILTIN_PLACEHOLDERS
            .iter()
            .map(|s| s.to_string())
            .chain(values.keys().cloned())
            .collect(),
        values,
    };
    for (path, source) in sources {
        let ctx = FileCtx::new(path, source);
        match toml::from_str::<RawFile>(source) {
            Ok(file) => {
                let language = folder_language(dir, path);
                for rule in file.rule {
                    b.rule(&ctx, language, rule);
                }
                for template in file.template {
                    b.template(&ctx, template);
                }
            }
            Err(err) => {
                let offset = err.span().map(|s| s.start);
                b.problems
                    .push(ctx.problem(offset, None, "", toml_message(err.message())));
            }
        }
    }
    for (rule, template, mut problem) in std::mem::take(&mut b.references) {
        if !b.templates.contains_key(&template) {
            problem.message =
                format!("rule `{rule}` names template `{template}`, which no file defines");
            b.problems.push(with_hint(
                problem,
                "add a [[template]] with that id, or fix the spelling",
            ));
        }
    }
    if sources.is_empty() {
        b.problems.push(Problem {
            file: dir.to_owned(),
            line: None,
            item: None,
            field: String::new(),
            message: "no .toml rule files found".into(),
            hint: Some("rules live in rules/en/*.toml and rules/it/*.toml".into()),
        });
    }
    if !b.problems.is_empty() {
        return Err(LibraryError::Invalid {
            dir: dir.to_owned(),
            problems: b.problems,
        });
    }
    let matcher = b.matcher.build().map_err(|message| LibraryError::Invalid {
        dir: dir.to_owned(),
        problems: vec![Problem {
            file: dir.to_owned(),
            line: None,
            item: None,
            field: String::new(),
            message: format!("the rules do not compile together: {message}"),
            hint: Some("the library may be too large; split patterns into word lists".into()),
        }],
    })?;
    let mut uses_by_term = vec![Vec::new(); matcher.term_count()];
    let mut always_check = Vec::new();
    for (index, rule) in b.rules.iter_mut().enumerate() {
        let index = index as u32;
        if let Condition::Lexicon(lex) = &mut rule.condition {
            lex.index_terms(matcher.term_count());
        }
        let uses: Vec<(TermId, TermUse)> = match &rule.condition {
            Condition::Terms { any, all, none } => [
                (any, TermUse::Any),
                (all, TermUse::All),
                (none, TermUse::Veto),
            ]
            .into_iter()
            .flat_map(|(terms, how)| terms.iter().map(move |t| (*t, how)))
            .collect(),
            Condition::Lexicon(lex) => {
                if lex.all_caps + lex.exclamations >= lex.threshold {
                    always_check.push(index);
                }
                let weighted = lex.weights.iter().map(|(t, _)| (*t, TermUse::Weighted));
                weighted
                    .chain(lex.none.iter().map(|t| (*t, TermUse::Veto)))
                    .collect()
            }
        };
        for (term, how) in uses {
            let list: &mut Vec<(u32, TermUse)> = &mut uses_by_term[term.0 as usize];
            // Rules are visited in order, so this rule's uses are the tail of the list: looking
            // only there keeps a word shared by thousands of rules from making loading quadratic.
            let mut this_rule = list.iter().rev().take_while(|(rule, _)| *rule == index);
            if !this_rule.any(|used| *used == (index, how)) {
                list.push((index, how));
            }
        }
    }
    Ok(Library {
        rules: b.rules,
        templates: b.templates,
        matcher,
        uses_by_term,
        always_check,
    })
}

impl Builder<'_> {
    fn rule(&mut self, ctx: &FileCtx<'_>, language: Option<Lang>, raw: Spanned<RawRule>) {
        let start = raw.span().start;
        let raw = raw.into_inner();
        let id = RuleId(raw.id.get_ref().trim().into());
        let item = Some(format!("rule `{id}`"));
        let at = |s: std::ops::Range<usize>| Some(s.start);
        let before = self.problems.len();

        if id.0.is_empty() {
            self.problems
                .push(ctx.problem(at(raw.id.span()), item.clone(), "id", "is empty"));
        } else if let Some((file, line)) = self.rule_lines.get(&id) {
            self.problems.push(ctx.problem(
                at(raw.id.span()),
                item.clone(),
                "id",
                format!(
                    "duplicate rule id, first defined at {}:{line}",
                    file.display()
                ),
            ));
        } else {
            self.rule_lines
                .insert(id.clone(), (ctx.path.to_owned(), ctx.line(start)));
        }

        let mut labels = Vec::new();
        for name in raw.labels.get_ref() {
            match Label::parse(name) {
                Some(l) => labels.push(l),
                None => self.problems.push(with_hint(
                    ctx.problem(
                        at(raw.labels.span()),
                        item.clone(),
                        "labels",
                        format!("unknown label `{name}`"),
                    ),
                    "labels are complaint, question, urgent, praise, negative",
                )),
            }
        }
        if raw.labels.get_ref().is_empty() {
            self.problems.push(ctx.problem(
                at(raw.labels.span()),
                item.clone(),
                "labels",
                "a rule needs at least one label",
            ));
        }
        let mut suppresses = Vec::new();
        for name in &raw.suppresses {
            match Label::parse(name.get_ref()) {
                Some(l) => suppresses.push(l),
                None => self.problems.push(ctx.problem(
                    at(name.span()),
                    item.clone(),
                    "suppresses",
                    format!("unknown label `{}`", name.get_ref()),
                )),
            }
        }
        let severity = match &raw.severity {
            None => Severity::default(),
            Some(s) => match s.get_ref().as_str() {
                "low" => Severity::Low,
                "medium" => Severity::Medium,
                "high" => Severity::High,
                "critical" => Severity::Critical,
                other => {
                    self.problems.push(with_hint(
                        ctx.problem(
                            at(s.span()),
                            item.clone(),
                            "severity",
                            format!("unknown severity `{other}`"),
                        ),
                        "use low, medium, high or critical",
                    ));
                    Severity::default()
                }
            },
        };
        let author = match &raw.author {
            None => AuthorFilter::Any,
            Some(a) => match a.get_ref().as_str() {
                "any" => AuthorFilter::Any,
                "new_member" => AuthorFilter::NewMember,
                "member" => AuthorFilter::Member,
                other => {
                    self.problems.push(with_hint(
                        ctx.problem(
                            at(a.span()),
                            item.clone(),
                            "author",
                            format!("unknown author filter `{other}`"),
                        ),
                        "use any, member or new_member",
                    ));
                    AuthorFilter::Any
                }
            },
        };

        let templates: Vec<TemplateId> = raw
            .templates
            .iter()
            .map(|t| TemplateId(t.get_ref().as_str().into()))
            .collect();
        for t in &raw.templates {
            self.references.push((
                id.clone(),
                TemplateId(t.get_ref().as_str().into()),
                ctx.problem(at(t.span()), item.clone(), "templates", ""),
            ));
        }
        if templates.is_empty() && labels.iter().any(|l| l.needs_reply()) {
            self.problems.push(with_hint(
                ctx.problem(
                    Some(start),
                    item.clone(),
                    "templates",
                    "a rule that flags comments needing a reply must name at least one template",
                ),
                "moderators are shown a draft for every flagged comment",
            ));
        }

        let written = |t: &Option<RawTerms>| {
            t.as_ref()
                .is_some_and(|t| !t.words.is_empty() || !t.patterns.is_empty())
        };
        let has_positive_terms = written(&raw.any) || written(&raw.all);
        let any = sorted(self.terms(ctx, &item, "any", raw.any.as_ref()));
        // In the order written (explanations follow it), each term once: a rule fires when
        // every one of them is found.
        let mut all = self.terms(ctx, &item, "all", raw.all.as_ref());
        let mut seen = std::collections::HashSet::new();
        all.retain(|t| seen.insert(*t));
        let none = sorted(self.terms(ctx, &item, "none", raw.none.as_ref()));
        let condition = match raw.lexicon {
            Some(lex) => {
                if !any.is_empty() || !all.is_empty() {
                    self.problems.push(ctx.problem(
                        at(lex.span()),
                        item.clone(),
                        "lexicon",
                        "a lexicon rule cannot also have `any` or `all` terms",
                    ));
                }
                self.lexicon(ctx, &item, lex, none)
            }
            None => {
                if !has_positive_terms {
                    self.problems.push(with_hint(
                        ctx.problem(
                            Some(start),
                            item.clone(),
                            "any",
                            "the rule has nothing to match",
                        ),
                        "give it `any`/`all` words or patterns, or a `lexicon`",
                    ));
                }
                Condition::Terms { any, all, none }
            }
        };

        if self.problems.len() == before {
            self.rules.push(Rule {
                id,
                file: ctx.path.to_owned(),
                language,
                description: raw.description,
                labels: labels.into(),
                topic: raw.topic.map(Into::into),
                suppresses,
                priority: raw.priority,
                severity,
                templates,
                condition,
                scope: Scope {
                    channels: raw.channels,
                    exclude_channels: raw.exclude_channels,
                    author,
                    dm: raw.dm,
                },
            });
        }
    }

    fn terms(
        &mut self,
        ctx: &FileCtx<'_>,
        item: &Option<String>,
        group: &str,
        raw: Option<&RawTerms>,
    ) -> Vec<TermId> {
        let Some(raw) = raw else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, word) in raw.words.iter().enumerate() {
            let field = format!("{group}.words[{i}]");
            if let Some(term) = self.word(ctx, item, &field, word) {
                out.push(term);
            }
        }
        for (i, pattern) in raw.patterns.iter().enumerate() {
            let field = format!("{group}.patterns[{i}]");
            if let Some(term) = self.pattern(ctx, item, &field, pattern) {
                out.push(term);
            }
        }
        out
    }

    fn word(
        &mut self,
        ctx: &FileCtx<'_>,
        item: &Option<String>,
        field: &str,
        word: &Spanned<String>,
    ) -> Option<TermId> {
        let normalized = normalize_phrase(word.get_ref());
        let core = normalized.trim_matches('*');
        if core.trim().is_empty() {
            self.problems.push(ctx.problem(
                Some(word.span().start),
                item.clone(),
                field,
                "is empty",
            ));
            return None;
        }
        if core.contains('*') {
            self.problems.push(with_hint(
                ctx.problem(
                    Some(word.span().start),
                    item.clone(),
                    field,
                    format!("`{}` has `*` in the middle", word.get_ref()),
                ),
                "`*` is a wildcard only at the start or end of a word; use a pattern for more",
            ));
            return None;
        }
        Some(self.matcher.word(&normalized))
    }

    fn pattern(
        &mut self,
        ctx: &FileCtx<'_>,
        item: &Option<String>,
        field: &str,
        pattern: &Spanned<String>,
    ) -> Option<TermId> {
        let source = pattern.get_ref();
        let offset = Some(pattern.span().start);
        if let Some((pos, ch)) = unmatchable_letter(source) {
            self.problems.push(with_hint(
                ctx.problem(
                    offset,
                    item.clone(),
                    field,
                    format!("`{ch}` at position {pos} can never match"),
                ),
                "patterns run on lowercased text with accents removed: write `perche`, not `Perché`",
            ));
            return None;
        }
        if let Err(err) = regex_syntax::ast::parse::Parser::new().parse(source) {
            let span = err.span();
            self.problems.push(ctx.problem(
                offset,
                item.clone(),
                field,
                format!(
                    "invalid regex at position {}: {}",
                    span.start.column,
                    err.kind()
                ),
            ));
            return None;
        }
        if let Err(err) = compile_pattern(source) {
            let message = err.to_string().replace('\n', " ");
            self.problems.push(ctx.problem(
                offset,
                item.clone(),
                field,
                format!("invalid regex: {message}"),
            ));
            return None;
        }
        Some(self.matcher.pattern(source))
    }

    fn lexicon(
        &mut self,
        ctx: &FileCtx<'_>,
        item: &Option<String>,
        raw: Spanned<RawLexicon>,
        none: Vec<TermId>,
    ) -> Condition {
        let start = raw.span().start;
        let offset = Some(start);
        let raw = raw.into_inner();
        if raw.threshold.is_nan() || raw.threshold <= 0.0 {
            self.problems.push(ctx.problem(
                offset,
                item.clone(),
                "lexicon.threshold",
                "must be greater than 0",
            ));
        }
        if raw.weights.is_empty() {
            self.problems.push(ctx.problem(
                offset,
                item.clone(),
                "lexicon.weights",
                "a lexicon needs at least one weighted word",
            ));
        }
        let mut weights = Vec::new();
        for (word, weight) in &raw.weights {
            let field = format!("lexicon.weights.\"{word}\"");
            if !weight.is_finite() {
                self.problems.push(ctx.problem(
                    offset,
                    item.clone(),
                    &field,
                    "weight must be a number",
                ));
                continue;
            }
            let spanned = Spanned::new(start..start, word.clone());
            if let Some(term) = self.word(ctx, item, &field, &spanned) {
                weights.push((term, *weight));
            }
        }
        let mut fixed = Vec::new();
        for word in &raw.fixed {
            if !raw.weights.contains_key(word) {
                self.problems.push(ctx.problem(
                    offset,
                    item.clone(),
                    "lexicon.fixed",
                    format!("`{word}` is not one of the lexicon's weighted words"),
                ));
                continue;
            }
            let field = format!("lexicon.fixed.\"{word}\"");
            let spanned = Spanned::new(start..start, word.clone());
            if let Some(term) = self.word(ctx, item, &field, &spanned) {
                fixed.push(term);
            }
        }
        // Sorted by term so triage finds a hit's weight by binary search.
        weights.sort_by_key(|(term, _)| *term);
        weights.dedup_by_key(|(term, _)| *term);
        fixed.sort();
        fixed.dedup();
        Condition::Lexicon(Lexicon {
            weights,
            fixed,
            threshold: raw.threshold,
            none,
            negators: WordSet::new(raw.negators.iter().map(|n| normalize_phrase(n))),
            negation_window: raw.negation_window,
            intensifiers: WordSet::new(raw.intensifiers.iter().map(|n| normalize_phrase(n))),
            intensifier_factor: raw.intensifier_factor,
            all_caps: raw.all_caps,
            exclamations: raw.exclamations,
            by_term: Vec::new(),
        })
    }

    fn template(&mut self, ctx: &FileCtx<'_>, raw: Spanned<RawTemplate>) {
        let start = raw.span().start;
        let raw = raw.into_inner();
        let id = TemplateId(raw.id.get_ref().trim().into());
        let item = Some(format!("template `{id}`"));
        let before = self.problems.len();
        if let Some((file, line)) = self.template_lines.get(&id) {
            self.problems.push(ctx.problem(
                Some(raw.id.span().start),
                item.clone(),
                "id",
                format!(
                    "duplicate template id, first defined at {}:{line}",
                    file.display()
                ),
            ));
        } else {
            self.template_lines
                .insert(id.clone(), (ctx.path.to_owned(), ctx.line(start)));
        }
        let mut wordings = HashMap::new();
        for (lang, body) in [(Lang::En, raw.en), (Lang::It, raw.it)] {
            let Some(body) = body else {
                self.problems.push(with_hint(
                    ctx.problem(
                        Some(start),
                        item.clone(),
                        lang.code(),
                        format!("missing the {lang} body"),
                    ),
                    format!("add [template.{lang}] with wordings = [...]: every reply must exist in every language"),
                ));
                continue;
            };
            let body_offset = body.span().start;
            let body = body.into_inner();
            if body.wordings.is_empty() {
                self.problems.push(ctx.problem(
                    Some(body_offset),
                    item.clone(),
                    format!("{lang}.wordings"),
                    "needs at least one wording",
                ));
            }
            let mut parsed = Vec::new();
            for (i, text) in body.wordings.iter().enumerate() {
                let field = format!("{lang}.wordings[{i}]");
                match Wording::parse(text.get_ref(), &self.placeholders) {
                    Ok(w) => {
                        let max = w.max_chars(self.values);
                        if max > REPLY_MAX_CHARS {
                            self.problems.push(with_hint(
                                ctx.problem(
                                    Some(text.span().start),
                                    item.clone(),
                                    &field,
                                    format!("can be {max} characters long, over Discord's limit of {REPLY_MAX_CHARS}"),
                                ),
                                "shorten the wording; placeholders count at their longest",
                            ));
                        } else if text.get_ref().trim().is_empty() {
                            self.problems.push(ctx.problem(
                                Some(text.span().start),
                                item.clone(),
                                &field,
                                "is empty",
                            ));
                        }
                        parsed.push(w);
                    }
                    Err(err) => {
                        let mut p = ctx.problem(
                            Some(text.span().start),
                            item.clone(),
                            &field,
                            err.to_string(),
                        );
                        if matches!(err, super::TemplateError::UnknownPlaceholder { .. }) {
                            p = with_hint(
                                p,
                                format!(
                                    "known placeholders: {}",
                                    self.placeholders
                                        .iter()
                                        .map(|s| format!("{{{s}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                        self.problems.push(p);
                    }
                }
            }
            wordings.insert(lang, parsed);
        }
        if self.problems.len() == before {
            self.templates.insert(
                id.clone(),
                Template {
                    id,
                    description: raw.description,
                    wordings,
                },
            );
        }
    }
}

/// Sorted and deduplicated, so triage can look terms up by binary search.
fn sorted(mut terms: Vec<TermId>) -> Vec<TermId> {
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// Finds a letter a pattern can never match on normalised text (uppercase or accented),
/// skipping escapes such as `\W` and flag groups such as `(?i)`.
fn unmatchable_letter(source: &str) -> Option<(usize, char)> {
    let mut chars = source.chars().enumerate().peekable();
    let mut prev_open_question = false;
    while let Some((pos, ch)) = chars.next() {
        if ch == '\\' {
            // An escape: skip its letter, and a `{...}` argument such as `\p{L}`.
            if let Some((_, next)) = chars.next() {
                if matches!(next, 'p' | 'P' | 'x' | 'u' | 'U')
                    && chars.peek().map(|c| c.1) == Some('{')
                {
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
            }
            prev_open_question = false;
            continue;
        }
        if prev_open_question && ch.is_ascii_alphabetic() {
            // Inside `(?flags)`: flags such as `U` are not letters to match.
            for (_, c) in chars.by_ref() {
                if c == ')' || c == ':' {
                    break;
                }
            }
            prev_open_question = false;
            continue;
        }
        prev_open_question = ch == '?' && pos > 0 && source[..].chars().nth(pos - 1) == Some('(');
        if ch.is_uppercase() || (ch.is_alphabetic() && !ch.is_ascii()) {
            return Some((pos, ch));
        }
    }
    None
}

/// The TOML parser's message on one line, and never empty: for a key written without its value
/// (`id =` at the end of a file) the parser gives no message at all.
fn toml_message(message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        return "expected a value here: a key without its value, or an unclosed string, array \
                or table"
            .to_owned();
    }
    message
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(files: &[(&str, &str)]) -> Result<Library, Vec<String>> {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, s)| (PathBuf::from(format!("rules/{p}")), s.to_string()))
            .collect();
        let values = BTreeMap::from([("support_url".to_owned(), "https://help.test".to_owned())]);
        Library::from_sources(Path::new("rules"), &sources, &values)
            .map_err(|e| e.problems().iter().map(|p| p.to_string()).collect())
    }

    const TEMPLATE: &str = r#"
[[template]]
id = "sorry"
[template.en]
wordings = ["Sorry {author}, see {support_url}", "We are on it, {author}."]
[template.it]
wordings = ["Ci dispiace {author}, vedi {support_url}"]
"#;

    #[test]
    fn loads_a_valid_rule_with_its_language_from_the_folder() {
        let rule = r#"
[[rule]]
id = "it.complaint.late"
labels = ["complaint"]
templates = ["sorry"]
severity = "high"
[rule.any]
words = ["in ritardo", "non è arrivato"]
"#;
        let lib = check(&[("it/late.toml", rule), ("templates.toml", TEMPLATE)]).unwrap();
        assert_eq!(lib.rules.len(), 1);
        assert_eq!(lib.rules[0].language, Some(Lang::It));
        assert_eq!(lib.rules[0].severity, Severity::High);
    }

    #[test]
    fn broken_regex_names_file_line_rule_and_position() {
        let rule = "[[rule]]\nid = \"en.bad\"\nlabels = [\"question\"]\ntemplates = [\"sorry\"]\n[rule.any]\npatterns = [\"how (do\"]\n";
        let errs = check(&[("en/bad.toml", rule), ("templates.toml", TEMPLATE)]).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("rules/en/bad.toml:6: rule `en.bad`: field `any.patterns[0]`: invalid regex at position 5"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let rule = r#"
[[rule]]
id = "en.x"
labels = ["complain"]
templates = ["nope"]
severity = "huge"
[rule.any]
words = ["ok"]

[[rule]]
id = "en.x"
labels = ["praise"]
[rule.any]
words = ["thanks"]
"#;
        let errs = check(&[("en/x.toml", rule), ("templates.toml", TEMPLATE)]).unwrap_err();
        let all = errs.join("\n");
        assert!(all.contains("unknown label `complain`"), "{all}");
        assert!(all.contains("unknown severity `huge`"), "{all}");
        assert!(all.contains("duplicate rule id"), "{all}");
        assert!(all.contains("names template `nope`"), "{all}");
    }

    #[test]
    fn template_problems_are_reported() {
        let t = r#"
[[template]]
id = "t"
[template.en]
wordings = ["Hi {autor}"]
"#;
        let errs = check(&[("templates.toml", t)]).unwrap_err().join("\n");
        assert!(errs.contains("unknown placeholder `{autor}`"), "{errs}");
        assert!(errs.contains("missing the it body"), "{errs}");
    }

    #[test]
    fn overlong_wording_is_refused() {
        let long = "x".repeat(1990);
        let t = format!(
            "[[template]]\nid = \"t\"\n[template.en]\nwordings = [\"{long} {{author}}\"]\n[template.it]\nwordings = [\"ok\"]\n"
        );
        let errs = check(&[("templates.toml", &t)]).unwrap_err().join("\n");
        assert!(errs.contains("over Discord's limit of 2000"), "{errs}");
    }

    #[test]
    fn uppercase_or_accented_pattern_letters_are_refused_with_a_hint() {
        let rule = "[[rule]]\nid = \"it.q\"\nlabels = [\"praise\"]\n[rule.any]\npatterns = [\"(?i)Perché\"]\n";
        let errs = check(&[("it/q.toml", rule)]).unwrap_err().join("\n");
        assert!(errs.contains("`P` at position 4 can never match"), "{errs}");
    }

    #[test]
    fn unknown_fields_are_parse_errors_with_a_line() {
        let rule = "[[rule]]\nid = \"en.q\"\nlabels = [\"praise\"]\nwords = [\"x\"]\n";
        let errs = check(&[("en/q.toml", rule)]).unwrap_err().join("\n");
        assert!(errs.contains("rules/en/q.toml:"), "{errs}");
        assert!(errs.contains("unknown field `words`"), "{errs}");
    }

    #[test]
    fn a_key_without_its_value_is_named_as_such_on_its_line() {
        let errs = check(&[("en/q.toml", "[[rule]]\nid =")]).unwrap_err();
        assert_eq!(
            errs,
            ["rules/en/q.toml:2: expected a value here: a key without its value, or an unclosed \
              string, array or table"]
        );
        let errs = check(&[("en/q.toml", "[[rule]\n")]).unwrap_err();
        assert!(!errs[0].contains('\n'), "{errs:?}");
    }

    #[test]
    fn lines_are_counted_from_the_newline_index() {
        let ctx = FileCtx::new(Path::new("x.toml"), "a\nbb\n\nc");
        let lines: Vec<usize> = (0..9).map(|o| ctx.line(o)).collect();
        assert_eq!(lines, [1, 1, 2, 2, 2, 3, 4, 4, 4]);
    }

    #[test]
    fn a_rule_using_a_term_twice_is_listed_once_for_it() {
        let rule = "[[rule]]\nid = \"en.q\"\nlabels = [\"praise\"]\n[rule.any]\nwords = [\"nice\", \"nice\"]\n[[rule]]\nid = \"en.r\"\nlabels = [\"praise\"]\n[rule.any]\nwords = [\"nice\"]\n";
        let lib = check(&[("en/q.toml", rule)]).unwrap();
        assert_eq!(lib.uses_by_term[0], [(0, TermUse::Any), (1, TermUse::Any)]);
    }

    #[test]
    fn flagging_rules_need_a_template() {
        let rule =
            "[[rule]]\nid = \"en.q\"\nlabels = [\"question\"]\n[rule.any]\nwords = [\"how\"]\n";
        let errs = check(&[("en/q.toml", rule)]).unwrap_err().join("\n");
        assert!(errs.contains("must name at least one template"), "{errs}");
    }

    /// What each field of the generated rule file holds when it is written well.
    const WELL_FORMED: [&str; 12] = [
        "en.x",
        "complaint",
        "sorry",
        "high",
        "general",
        "Sorry {author}",
        "late",
        "not (working|arrived)",
        "never",
        "refund policy",
        "awful",
        "Ci dispiace",
    ];

    /// A field's value: mostly the well-formed one, so that the rest of the file is checked
    /// too, otherwise anything a person can type in its place.
    fn value() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        prop_oneof![
            24 => Just(None),
            1 => "[a-z ]{0,8}".prop_map(Some),
            1 => "\\PC{0,10}".prop_map(Some),
            1 => "[(){}\\[\\]*+?|\\\\^$.a-z]{0,10}".prop_map(Some),
            1 => "@?[a-z]{0,4}\\*?".prop_map(Some),
        ]
    }

    /// TOML-escapes a generated value so it reaches the loader as the person wrote it.
    fn quoted(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]

        /// A rule file with any values in any field, cut short anywhere, loads or is refused
        /// with problems that each name the file; the loader never panics (regexes that do not
        /// compile, or compile too big, included).
        #[test]
        fn any_rule_file_loads_or_is_refused_naming_the_file(
            v in proptest::collection::vec(value(), WELL_FORMED.len()),
            weight in proptest::prop_oneof![7 => proptest::strategy::Just(1.5f32), 1 => proptest::prelude::any::<f32>()],
            window in proptest::prop_oneof![7 => proptest::strategy::Just(2i64), 1 => proptest::prelude::any::<i64>()],
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            lexicon in proptest::prelude::any::<bool>(),
        ) {
            let q: Vec<String> = v
                .iter()
                .zip(WELL_FORMED)
                .map(|(given, good)| quoted(given.as_deref().unwrap_or(good)))
                .collect();
            let condition = if lexicon {
                format!(
                    "[rule.lexicon]\nthreshold = {weight:?}\nnegation_window = {window}\nnegators = [{}]\nfixed = [{}]\n[rule.lexicon.weights]\n{} = {weight:?}\n{} = 1.0\n[rule.none]\npatterns = [{}]\n",
                    q[8], q[10], q[6], q[10], q[9]
                )
            } else {
                format!(
                    "[rule.any]\nwords = [{}, {}]\npatterns = [{}]\n[rule.none]\npatterns = [{}]\n",
                    q[6], q[7], q[8], q[9]
                )
            };
            let rule = format!(
                "[[rule]]\nid = {}\nlabels = [{}]\ntemplates = [{}]\nseverity = {}\npriority = {window}\ntopic = {}\n{condition}",
                q[0], q[1], q[2], q[3], q[4]
            );
            let template = format!(
                "[[template]]\nid = {}\n[template.en]\nwordings = [{}]\n[template.it]\nwordings = [{}]\n",
                q[2], q[5], q[11]
            );
            // Some files are cut short at any character, as an editor crash or a bad paste would.
            let boundaries: Vec<usize> = rule
                .char_indices()
                .map(|(i, _)| i)
                .chain([rule.len()])
                .collect();
            let end = if cut.index(4) == 0 { *cut.get(&boundaries) } else { rule.len() };
            match check(&[("en/x.toml", &rule[..end]), ("templates.toml", &template)]) {
                Ok(_) => {}
                Err(problems) => {
                    proptest::prop_assert!(!problems.is_empty());
                    for p in &problems {
                        proptest::prop_assert!(
                            p.starts_with("rules/en/x.toml") || p.starts_with("rules/templates.toml"),
                            "{p}"
                        );
                        // After the place, a message a person can act on.
                        let said = p.split_once(": ").map_or("", |(_, said)| said);
                        proptest::prop_assert!(!said.trim().is_empty(), "{p:?}");
                        proptest::prop_assert!(!p.contains('\n'), "one line per problem: {p:?}");
                    }
                }
            }
        }
    }
}
