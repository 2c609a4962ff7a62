//! Who may use codemode's own HTTP endpoint (the config's `auth`, read by `sections.rs`).

use std::collections::BTreeMap;

/// Who may use codemode's own HTTP endpoint: bearer tokens, each with the name of whom it is
/// (the principal of the audit log). Only their SHA-256 digests are kept.
#[derive(Clone, PartialEq)]
pub struct Auth {
    pub tokens: Vec<(String, [u8; 32])>,
    /// A principal's own policy, which can only narrow the config's (the stricter decision
    /// holds): by token name, and for access tokens `sub:SUBJECT` and `scope:SCOPE`
    /// (`auth.jwt.policies`).
    pub policies: BTreeMap<String, crate::policy::Policy>,
    /// Access tokens of an OAuth authorization server (codemode as a resource server).
    pub jwt: Option<Jwt>,
    /// How many executions one principal may run at once (`auth.maxRunning`); none: no
    /// bound of its own.
    pub max_running: Option<usize>,
    /// A token's own bound (`auth.tokens.NAME.maxRunning`), in place of `max_running`.
    pub max_running_of: BTreeMap<String, usize>,
}

/// How codemode checks the JWT access tokens an authorization server issues for it: signed by
/// a key of the issuer's JWKS, `iss` the issuer, `aud` codemode's resource URL, unexpired, with
/// every scope named here.
#[derive(Clone, Debug, PartialEq)]
pub struct Jwt {
    pub issuer: String,
    /// codemode's URL as its clients reach it (`https://codemode.example/mcp`): the audience.
    pub resource: String,
    pub scopes: Vec<String>,
    /// The issuer's JWKS; none: found through its metadata.
    pub jwks_url: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Auth").field("tokens", &names).finish()
    }
}

impl Auth {
    /// How many executions `principal` (a token name, or `oauth:SUBJECT`) may run at once.
    pub fn max_running_of(&self, principal: &str) -> Option<usize> {
        self.max_running_of
            .get(principal)
            .copied()
            .or(self.max_running)
    }

    /// The policies that hold `principal` (a token name, or `oauth:SUBJECT`) with `scopes`,
    /// each with whose it is: the token's, the subject's, each scope's.
    pub fn policies_of<'a>(
        &'a self,
        principal: Option<&str>,
        scopes: &[String],
    ) -> Vec<(String, &'a crate::policy::Policy)> {
        let mut keys: Vec<String> = Vec::new();
        if let Some(principal) = principal {
            match principal.strip_prefix("oauth:") {
                Some(subject) => keys.push(format!("sub:{subject}")),
                None => keys.push(principal.to_string()),
            }
        }
        if principal.is_some_and(|p| p.starts_with("oauth:")) {
            keys.extend(scopes.iter().map(|s| format!("scope:{s}")));
        }
        keys.into_iter()
            .filter_map(|key| self.policies.get(&key).map(|policy| (key, policy)))
            .collect()
    }

    /// The principal `token` belongs to. Every digest is compared, in time that does not
    /// depend on where they differ.
    pub fn principal(&self, token: &str) -> Option<&str> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, known) in &self.tokens {
            let differs = known
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if differs == 0 && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}
