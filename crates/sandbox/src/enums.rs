//! A bound on what oxc computes for TypeScript enums before the code runs.
//!
//! oxc evaluates constant enum members at transpile time, in Rust memory, outside every limit of
//! the run: string members that repeat each other (`B = A + A, C = B + B, ...`) double with each
//! line. [`check`] bounds the size each member's value can reach (every reference at its
//! largest) before oxc evaluates anything, and refuses enums past [`MAX_ENUM_CHARS`].

use std::collections::HashMap;

use oxc::ast::ast::{Expression, Program, TSEnumDeclaration, TSEnumMemberName};
use oxc::ast_visit::{Visit, walk};

/// The most characters all enum members of a snippet may hold together.
pub(crate) const MAX_ENUM_CHARS: usize = 1 << 20;
/// The longest text a number becomes.
const NUMBER_CHARS: usize = 25;

/// An enum member whose value could outgrow the bound: its byte offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLarge(pub(crate) usize);

/// Checks every enum of `program`, in source order (the order oxc evaluates them in).
pub(crate) fn check(program: &Program<'_>) -> Result<(), TooLarge> {
    #[derive(Default)]
    struct Sizes {
        /// The largest value any member of this name can hold so far.
        by_name: HashMap<String, usize>,
        total: usize,
        too_large: Option<usize>,
    }
    impl<'a> Visit<'a> for Sizes {
        fn visit_ts_enum_declaration(&mut self, decl: &TSEnumDeclaration<'a>) {
            for member in &decl.body.members {
                let size = member
                    .initializer
                    .as_ref()
                    .map_or(NUMBER_CHARS, |init| self.size(init));
                self.total = self.total.saturating_add(size);
                if self.total > MAX_ENUM_CHARS {
                    self.too_large.get_or_insert(member.span.start as usize);
                    return;
                }
                let name = match &member.id {
                    TSEnumMemberName::Identifier(id) => id.name.to_string(),
                    TSEnumMemberName::String(lit) | TSEnumMemberName::ComputedString(lit) => {
                        lit.value.to_string()
                    }
                    TSEnumMemberName::ComputedTemplateString(_) => continue,
                };
                let known = self.by_name.entry(name).or_default();
                *known = (*known).max(size);
            }
            walk::walk_ts_enum_declaration(self, decl);
        }
    }
    impl Sizes {
        fn size(&self, expr: &Expression<'_>) -> usize {
            match expr {
                Expression::Identifier(id) => self.named(id.name.as_str()),
                Expression::StaticMemberExpression(member) => {
                    self.named(member.property.name.as_str())
                }
                Expression::ComputedMemberExpression(member) => match &member.expression {
                    Expression::StringLiteral(lit) => self.named(lit.value.as_str()),
                    _ => 0,
                },
                Expression::BinaryExpression(binary) => self
                    .size(&binary.left)
                    .saturating_add(self.size(&binary.right))
                    .saturating_add(NUMBER_CHARS),
                Expression::StringLiteral(lit) => lit.value.len(),
                Expression::TemplateLiteral(template) => {
                    let text: usize = template.quasis.iter().map(|q| q.value.raw.len()).sum();
                    template
                        .expressions
                        .iter()
                        .fold(text, |sum, e| sum.saturating_add(self.size(e)))
                }
                Expression::ParenthesizedExpression(inner) => self.size(&inner.expression),
                Expression::NumericLiteral(_) | Expression::UnaryExpression(_) => NUMBER_CHARS,
                _ => 0,
            }
        }

        fn named(&self, name: &str) -> usize {
            self.by_name.get(name).copied().unwrap_or(NUMBER_CHARS)
        }
    }
    let mut sizes = Sizes::default();
    sizes.visit_program(program);
    match sizes.too_large {
        Some(offset) => Err(TooLarge(offset)),
        None => Ok(()),
    }
}
