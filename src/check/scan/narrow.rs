//! `narrow-selector`: what a sops file's selector leaves plaintext, collected over its
//! documents, against seal's Kubernetes default (for Secrets), the creation rule's
//! selector, or anything at all (a selector that encrypts none of the file's values). One
//! finding per file at most.

use super::{Leaf, Node, Scan};
use crate::check::{Rule, Severity, hints, sops_file};
use crate::rules::Selector;
use crate::tree::Value;

/// What a sops file's selector leaves plaintext, collected over its documents: one
/// `narrow-selector` finding per file at most.
#[derive(Default)]
pub(super) struct Narrow {
    reported: bool,
    enc: usize,
    plain: Option<Option<usize>>,
    sops_at: Option<usize>,
}

impl Narrow {
    pub(super) fn doc(
        &mut self,
        s: &mut Scan,
        fs: &Selector,
        leaves: &[Leaf],
        secret: bool,
        rule: bool,
    ) {
        self.sops_at = self.sops_at.or_else(|| s.find_text(b"sops:"));
        for l in leaves.iter().filter(|l| !l.comment) {
            if l.enc_text().is_some() {
                self.enc += 1;
            } else if l.plaintext() && self.plain.is_none() {
                self.plain = Some(l.offset);
            }
        }
        if self.reported {
            return;
        }
        let hint = hints::reencrypt(s.ctx.path, s.ctx.rule, &s.recipients, false);
        if secret && let Some(field) = sops_file::narrower_than_kubernetes(fs) {
            self.reported = true;
            s.push(
                self.sops_at,
                Rule::NarrowSelector,
                Severity::Warning,
                format!(
                    "the file holds a Secret but its selector ({}) does not encrypt new {field} values, unlike {} (a value added later with seal set or sops edit stays plaintext)",
                    sops_file::describe(fs),
                    sops_file::kubernetes_default_text()
                ),
                &hint,
            );
            return;
        }
        if rule
            && let Some(l) = leaves.iter().find(|l| {
                !l.comment
                    && !matches!(l.node, Node::Value(Value::Null))
                    && !l.encrypt.first().copied().unwrap_or(true)
                    && l.encrypt.get(1).copied().unwrap_or(false)
            })
        {
            self.reported = true;
            let than = match s.ctx.rule {
                Some(r) if r.rule.selector.is_none() => {
                    format!("sops's default selector, which {} applies", r.label)
                }
                Some(r) => format!("that of {}", r.label),
                None => String::new(),
            };
            s.push(
                self.sops_at,
                Rule::NarrowSelector,
                Severity::Warning,
                format!(
                    "the file's selector ({}) is narrower than {than}: it leaves {} plaintext, which the rule encrypts",
                    sops_file::describe(fs),
                    l.display()
                ),
                &hint,
            );
        }
    }

    pub(super) fn finish(&mut self, s: &mut Scan) {
        if self.reported || self.enc > 0 {
            return;
        }
        let Some(_) = self.plain else { return };
        self.reported = true;
        s.push(
            self.sops_at,
            Rule::NarrowSelector,
            Severity::Warning,
            "the sops file encrypts none of its values: its selector leaves every value plaintext"
                .into(),
            &format!(
                "if the file holds anything secret, {}",
                hints::reencrypt(s.ctx.path, s.ctx.rule, &s.recipients, false)
            ),
        );
    }
}
