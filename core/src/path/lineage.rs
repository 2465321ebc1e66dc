//! Credential lineage: tokens linked by `parent_id` (refresh, exchange) form chains. Invariant:
//! every credential has exactly one root, also when the reported links form a cycle.

use std::collections::{BTreeMap, BTreeSet};

/// Parent links between tokens, as reported by token events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenLineage {
    parent: BTreeMap<String, String>,
}

impl TokenLineage {
    /// Records that `token` came from `parent`.
    pub fn link(&mut self, token: &str, parent: &str) {
        if token == parent {
            return;
        }
        match self.parent.get_mut(token) {
            Some(p) if p.as_str() <= parent => {}
            Some(p) => *p = parent.to_owned(),
            None => {
                self.parent.insert(token.to_owned(), parent.to_owned());
            }
        }
    }

    /// The parent of a token, if known.
    pub fn parent(&self, token: &str) -> Option<&str> {
        self.parent.get(token).map(String::as_str)
    }

    /// The chain from `token` up to its root, `token` first. A cycle ends the chain at the
    /// last token before it repeats.
    pub fn chain<'a>(&'a self, token: &'a str) -> Vec<&'a str> {
        let mut chain = vec![token];
        let mut seen = BTreeSet::from([token]);
        let mut current = token;
        while let Some(p) = self.parent(current) {
            if !seen.insert(p) {
                break;
            }
            chain.push(p);
            current = p;
        }
        chain
    }

    /// The root of a token's chain (itself when it has no known parent). For a cycle, the least
    /// token of the cycle, so that every member agrees.
    pub fn root<'a>(&'a self, token: &'a str) -> &'a str {
        let chain = self.chain(token);
        let last = *chain.last().expect("chain holds the token");
        match self.parent(last) {
            // `last` points back into the chain: a cycle. Its members agree on the least one.
            Some(p) if chain.contains(&p) => {
                let start = chain.iter().position(|t| *t == p).expect("in chain");
                chain[start..].iter().copied().min().expect("non-empty")
            }
            _ => last,
        }
    }

    /// Every token whose chain contains `token` (its descendants), `token` included.
    pub fn descendants(&self, token: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([token.to_owned()]);
        loop {
            let before = out.len();
            for (child, parent) in &self.parent {
                if out.contains(parent) {
                    out.insert(child.clone());
                }
            }
            if out.len() == before {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lineage(links: &[(&str, &str)]) -> TokenLineage {
        let mut l = TokenLineage::default();
        for (t, p) in links {
            l.link(t, p);
        }
        l
    }

    #[test]
    fn a_token_exchanged_twice_has_the_first_token_as_root() {
        let l = lineage(&[("t2", "t1"), ("t3", "t2")]);
        assert_eq!(l.root("t3"), "t1");
        assert_eq!(l.chain("t3"), vec!["t3", "t2", "t1"]);
        assert_eq!(l.root("t1"), "t1");
        assert_eq!(l.descendants("t1").len(), 3);
    }

    #[test]
    fn a_token_without_known_parent_is_its_own_root() {
        assert_eq!(TokenLineage::default().root("x"), "x");
    }

    #[test]
    fn every_member_of_a_reported_cycle_agrees_on_one_root() {
        let l = lineage(&[("b", "a"), ("c", "b"), ("a", "c")]);
        assert_eq!(l.root("a"), "a");
        assert_eq!(l.root("b"), "a");
        assert_eq!(l.root("c"), "a");
    }

    #[test]
    fn conflicting_parents_resolve_the_same_way_in_any_order() {
        let one = lineage(&[("t", "p2"), ("t", "p1")]);
        let two = lineage(&[("t", "p1"), ("t", "p2")]);
        assert_eq!(one, two);
        assert_eq!(one.parent("t"), Some("p1"));
    }
}
