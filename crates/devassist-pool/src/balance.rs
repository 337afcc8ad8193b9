//! Replica choice for a model served by several backends: the order in which to try them.
//!
//! Replicas are ranked by tier first — warm (ready or always on), then cold (using it costs a
//! wake, so a cold replica is woken only when no warm one can take the request), then
//! saturated (every concurrency permit taken), then unhealthy (failed recently: a last
//! resort) — and by outstanding requests (in flight + queued) within a tier.
//!
//! Prefix affinity: a request with an affinity key (derived from the start of its prompt, so
//! completions in the same file share it) goes first to the replica that rendezvous hashing
//! picks among the best tier, so that replica's KV cache is reused. Rendezvous hashing moves
//! only the keys of a replica that leaves the tier. Affinity yields to balance when its
//! replica is `AFFINITY_SLACK` requests busier than the least busy one.

use devassist_core::{GenerateRequest, Prompt, Role};

/// Characters of the prompt that make up an affinity key.
const AFFINITY_CHARS: usize = 256;

/// The prefix-affinity key of a request: the start of its prompt, so completions in the
/// same file share a replica — and the prefix its KV cache holds. For a chat, the start of
/// the system prompt and of the first user message: the system prompt alone is shared by
/// every conversation of a tool.
pub fn affinity_key(req: &GenerateRequest) -> Option<String> {
    let head = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let key = match &req.prompt {
        Prompt::Completion { prompt, .. } => head(prompt, AFFINITY_CHARS),
        Prompt::Chat { messages, .. } => {
            let first = |role: Role| {
                messages
                    .iter()
                    .find(|m| m.role == role)
                    .map(|m| head(&m.content, AFFINITY_CHARS / 2))
                    .unwrap_or_default()
            };
            format!("{}\u{0}{}", first(Role::System), first(Role::User))
        }
    };
    (!key
        .trim_matches(|c: char| c == '\u{0}' || c.is_whitespace())
        .is_empty())
    .then_some(key)
}

/// Affinity is given up when its replica has this many more outstanding requests than the
/// least busy replica of the same tier.
pub const AFFINITY_SLACK: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Warm,
    Cold,
    Saturated,
    Unhealthy,
}

/// What the balancer knows about one replica.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub index: usize,
    pub name: &'a str,
    pub tier: Tier,
    pub outstanding: u64,
}

/// Slot indexes in the order to try them.
pub fn order(mut candidates: Vec<Candidate<'_>>, affinity: Option<&str>) -> Vec<usize> {
    // Stable: replicas that tie keep the configured order.
    candidates.sort_by_key(|c| (c.tier, c.outstanding));
    if let (Some(key), Some(best)) = (affinity, candidates.first().map(|c| c.tier)) {
        let group = candidates
            .iter()
            .take_while(|c| c.tier == best)
            .collect::<Vec<_>>();
        let least = group.iter().map(|c| c.outstanding).min().unwrap_or(0);
        let pick = group
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| score(key, c.name))
            .map(|(i, c)| (i, c.outstanding));
        if let Some((i, load)) = pick
            && load < least + AFFINITY_SLACK
        {
            let chosen = candidates.remove(i);
            candidates.insert(0, chosen);
        }
    }
    candidates.into_iter().map(|c| c.index).collect()
}

/// Rendezvous weight of `replica` for `key`: FNV-1a over both, then a 64-bit finaliser.
/// Stable across processes and versions, so several gateways agree on the replica.
fn score(key: &str, replica: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain([0xff]).chain(replica.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: usize, name: &str, tier: Tier, outstanding: u64) -> Candidate<'_> {
        Candidate {
            index,
            name,
            tier,
            outstanding,
        }
    }

    #[test]
    fn affinity_key_is_the_prompt_start() {
        use devassist_core::Message;
        let completion = |p: &str| {
            GenerateRequest::new(
                "m",
                Prompt::Completion {
                    prompt: p.into(),
                    suffix: Some("}".into()),
                    system: None,
                    raw: false,
                    template: None,
                    images: vec![],
                },
            )
        };
        let file = format!("// src/lib.rs\n{}", "x".repeat(400));
        let a = affinity_key(&completion(&format!("{file}fn a(")));
        let b = affinity_key(&completion(&format!("{file}fn b(")));
        assert!(a.is_some());
        assert_eq!(a, b, "the same file gives the same key");
        assert_eq!(affinity_key(&completion("  ")), None);
        let chat = |sys: &str, user: &str| {
            GenerateRequest::new(
                "m",
                Prompt::Chat {
                    messages: vec![
                        Message::new(Role::System, sys),
                        Message::new(Role::User, user),
                    ],
                    tools: vec![],
                },
            )
        };
        let long_system = "You are a helpful assistant. ".repeat(20);
        assert_ne!(
            affinity_key(&chat(&long_system, "explain lifetimes")),
            affinity_key(&chat(&long_system, "write a parser")),
            "conversations differ by their first user message"
        );
    }

    #[test]
    fn least_outstanding_within_the_best_tier() {
        let order = order(
            vec![
                c(0, "a", Tier::Warm, 3),
                c(1, "b", Tier::Warm, 1),
                c(2, "c", Tier::Cold, 0),
                c(3, "d", Tier::Unhealthy, 0),
                c(4, "e", Tier::Saturated, 0),
            ],
            None,
        );
        assert_eq!(order, vec![1, 0, 2, 4, 3]);
    }

    #[test]
    fn affinity_is_stable_and_spreads_keys() {
        let names = ["r0", "r1", "r2"];
        let warm = |loads: [u64; 3]| {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| c(i, n, Tier::Warm, loads[i]))
                .collect::<Vec<_>>()
        };
        let mut hits = [0; 3];
        for f in 0..300 {
            let key = format!("// file src/module_{f}.rs\nuse std::io;");
            let first = order(warm([0, 0, 0]), Some(&key))[0];
            // Same key, different loads (within the slack): same replica.
            assert_eq!(order(warm([5, 0, 2]), Some(&key))[0], first);
            hits[first] += 1;
        }
        assert!(hits.iter().all(|&h| h > 60), "keys spread evenly: {hits:?}");
    }

    #[test]
    fn affinity_yields_to_an_unhealthy_replica_and_to_heavy_load() {
        let key = "fn main() {";
        let all = || vec![c(0, "r0", Tier::Warm, 0), c(1, "r1", Tier::Warm, 0)];
        let preferred = order(all(), Some(key))[0];
        let other = 1 - preferred;
        let mut sick = all();
        sick[preferred].tier = Tier::Unhealthy;
        assert_eq!(order(sick, Some(key))[0], other, "failover keeps working");
        let mut busy = all();
        busy[preferred].outstanding = AFFINITY_SLACK;
        assert_eq!(
            order(busy, Some(key))[0],
            other,
            "affinity does not pile up"
        );
        let mut cold = all();
        cold[preferred].tier = Tier::Cold;
        assert_eq!(
            order(cold, Some(key))[0],
            other,
            "affinity never wakes a replica when a warm one can answer"
        );
    }
}
