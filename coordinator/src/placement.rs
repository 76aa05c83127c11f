//! Which agents host a Sideways segment's stages, with no networking: the spec's rule
//! (`stage_hosts`, `place`) and the choice, at issue, among the agents that are live.
//!
//! Host 0 is the agent the segment is leased to: it drives the pipeline and needs no
//! address. Hosts 1.. are other agents that serve stage links. The stages are cut into
//! `stage_hosts` contiguous runs, stage `s` on host `s * hosts / stages` (the first hosts
//! take the extra stage when they do not divide evenly), so that every host boundary is one
//! link of the chain. A host must carry every label its stages' `place` entries ask for.

use pathnet_work::sideways::StagePlacement;
use std::collections::BTreeMap;
use std::fmt;

/// A label an agent must carry to host a stage: `key` (any value) or `key=value`, matched
/// against the labels the agent reported at join (`--label KEY=VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    key: String,
    value: Option<String>,
}

/// Longest label key or value a selector may name, as an operator would type it.
const MAX_SELECTOR_LEN: usize = 256;

impl Selector {
    /// Reads a `place` entry; the empty string asks for nothing (`None`).
    pub fn parse(text: &str) -> Result<Option<Selector>, String> {
        if text.is_empty() {
            return Ok(None);
        }
        if text.len() > MAX_SELECTOR_LEN {
            return Err(format!("longer than {MAX_SELECTOR_LEN} bytes"));
        }
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (text, None),
        };
        if key.is_empty() {
            return Err("expected `key` or `key=value` with a key".to_owned());
        }
        let bad = |s: &str| s.chars().any(|c| c.is_whitespace() || c.is_control());
        if bad(key) || value.is_some_and(bad) {
            return Err("a label has no whitespace or control characters".to_owned());
        }
        Ok(Some(Selector {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        }))
    }

    /// Whether `labels` carry the key (with the value, when the selector names one).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match (labels.get(&self.key), &self.value) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// Where a run's stages go: how many hosts, which host runs each stage and the labels each
/// host must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRule {
    host_of: Vec<usize>,
    /// Per host, the selectors of its stages, each once.
    needs: Vec<Vec<Selector>>,
}

/// An agent that could host stages: live, streaming leases, serving stage links.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The agent's id.
    pub agent: &'a str,
    /// Its stage-link address (`--stage-listen`); empty when it serves none.
    pub address: &'a str,
    /// The labels it reported at join.
    pub labels: &'a BTreeMap<String, String>,
}

/// The hosts chosen for one segment: the placement the work item carries, and the agents
/// behind hosts 1.. (host `h` is `peers[h - 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// Per stage its host, and the stage-link addresses of hosts 1...
    pub placement: StagePlacement,
    /// The agent ids of hosts 1.., in host order.
    pub peers: Vec<String>,
}

/// Why a segment cannot be placed now; it waits (is not issued) until that changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unplaced {
    /// The agent asking for work lacks a label host 0's stages need (the labels, in words).
    #[error("the agent asking lacks the labels of stage host 0 ({0})")]
    Driver(String),
    /// No other live agent serving stage links fits a host.
    #[error("no live agent serving stage links is free to be stage host {host} ({needs})")]
    NoHost {
        /// The host (1 and up) nobody can be.
        host: usize,
        /// The labels it needs, in words.
        needs: String,
    },
}

impl StageRule {
    /// The rule for `stages` stages over `hosts` hosts, stage `s` needing `place[s]` (no
    /// entry: nothing). A host whose stages ask for two values of one label is refused.
    pub fn new(
        stages: usize,
        hosts: usize,
        place: &[Option<Selector>],
    ) -> Result<StageRule, String> {
        assert!(
            (1..=stages).contains(&hosts),
            "the spec checked 1 <= stage_hosts <= stages"
        );
        let host_of: Vec<usize> = (0..stages).map(|s| s * hosts / stages).collect();
        let mut needs: Vec<Vec<Selector>> = vec![Vec::new(); hosts];
        for (stage, selector) in place.iter().enumerate() {
            let Some(selector) = selector else { continue };
            let host = host_of[stage];
            let have = &mut needs[host];
            // `key` and `key=value` never clash; two values of one key always do.
            if let Some(other) = have.iter().find(|s| {
                s.key == selector.key
                    && s.value.is_some()
                    && selector.value.is_some()
                    && s.value != selector.value
            }) {
                return Err(format!(
                    "stage {stage} asks for `{selector}` but shares host {host} with a stage \
                     that asks for `{other}`"
                ));
            }
            if !have.contains(selector) {
                have.push(selector.clone());
            }
        }
        Ok(StageRule { host_of, needs })
    }

    /// Hosts the stages spread over (`stage_hosts`).
    pub fn hosts(&self) -> usize {
        self.needs.len()
    }

    /// Per stage, bottom first, the host that runs it.
    pub fn host_of(&self) -> &[usize] {
        &self.host_of
    }

    /// Whether an agent with `labels` may be host `host`.
    pub fn fits(&self, host: usize, labels: &BTreeMap<String, String>) -> bool {
        self.needs[host].iter().all(|s| s.matches(labels))
    }

    fn needs_text(&self, host: usize) -> String {
        let needs: Vec<String> = self.needs[host].iter().map(|s| s.to_string()).collect();
        if needs.is_empty() {
            "any agent".to_owned()
        } else {
            format!("labels {}", needs.join(", "))
        }
    }

    /// Places a segment leased to an agent with `driver` labels, its other hosts taken from
    /// `candidates` in their order (the first that fit win), each agent and address once.
    pub fn choose(
        &self,
        driver: &BTreeMap<String, String>,
        candidates: &[Candidate<'_>],
    ) -> Result<Chosen, Unplaced> {
        if !self.fits(0, driver) {
            return Err(Unplaced::Driver(self.needs_text(0)));
        }
        let mut taken: Vec<usize> = Vec::with_capacity(self.hosts() - 1);
        if let Err(host) = self.fill(1, candidates, &mut taken) {
            return Err(Unplaced::NoHost {
                host,
                needs: self.needs_text(host),
            });
        }
        Ok(Chosen {
            placement: StagePlacement {
                host_of: self.host_of.clone(),
                addresses: taken
                    .iter()
                    .map(|&c| candidates[c].address.to_owned())
                    .collect(),
            },
            peers: taken
                .iter()
                .map(|&c| candidates[c].agent.to_owned())
                .collect(),
        })
    }

    /// Fills hosts `host..` from `candidates` by backtracking (at most a handful of hosts):
    /// an agent that fits two hosts must not take the one only it could fill when another
    /// could. Returns the first host no assignment could fill.
    fn fill(
        &self,
        host: usize,
        candidates: &[Candidate<'_>],
        taken: &mut Vec<usize>,
    ) -> Result<(), usize> {
        if host == self.hosts() {
            return Ok(());
        }
        let mut deepest = host;
        for (i, c) in candidates.iter().enumerate() {
            let used = taken.iter().any(|&t| {
                t == i || candidates[t].agent == c.agent || candidates[t].address == c.address
            });
            if used || c.address.is_empty() || !self.fits(host, c.labels) {
                continue;
            }
            taken.push(i);
            match self.fill(host + 1, candidates, taken) {
                Ok(()) => return Ok(()),
                Err(failed) => deepest = deepest.max(failed),
            }
            taken.pop();
        }
        Err(deepest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rule(stages: usize, hosts: usize, place: &[&str]) -> StageRule {
        let place: Vec<_> = place.iter().map(|p| Selector::parse(p).unwrap()).collect();
        StageRule::new(stages, hosts, &place).unwrap()
    }

    #[test]
    fn stages_are_cut_into_contiguous_runs_the_first_hosts_taking_the_extra_stage() {
        assert_eq!(rule(2, 2, &[]).host_of(), [0, 1]);
        assert_eq!(rule(4, 2, &[]).host_of(), [0, 0, 1, 1]);
        assert_eq!(rule(4, 3, &[]).host_of(), [0, 0, 1, 2]);
        assert_eq!(rule(4, 4, &[]).host_of(), [0, 1, 2, 3]);
        assert_eq!(rule(3, 1, &[]).host_of(), [0, 0, 0]);
    }

    #[test]
    fn selectors_parse_and_match_labels() {
        let gpu = labels(&[("device", "cuda"), ("zone", "a")]);
        let any = Selector::parse("device").unwrap().unwrap();
        let cuda = Selector::parse("device=cuda").unwrap().unwrap();
        let cpu = Selector::parse("device=cpu").unwrap().unwrap();
        let empty_value = Selector::parse("zone=").unwrap().unwrap();
        assert!(any.matches(&gpu) && cuda.matches(&gpu));
        assert!(!cpu.matches(&gpu) && !empty_value.matches(&gpu));
        assert!(!any.matches(&BTreeMap::new()));
        assert_eq!(Selector::parse("").unwrap(), None);
        for bad in ["=cuda", "dev ice", "device=a b", "\u{7}"] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Selector::parse(&"k".repeat(MAX_SELECTOR_LEN + 1)).is_err());
        assert_eq!(cuda.to_string(), "device=cuda");
    }

    #[test]
    fn a_host_asking_for_two_values_of_one_label_is_refused() {
        let place = [
            Selector::parse("device=cpu").unwrap(),
            Selector::parse("device=cuda").unwrap(),
        ];
        let err = StageRule::new(2, 1, &place).unwrap_err();
        assert!(
            err.contains("stage 1") && err.contains("device=cpu"),
            "{err}"
        );
        // On two hosts they do not clash; `device` and `device=cuda` never do.
        assert!(StageRule::new(2, 2, &place).is_ok());
        let loose = [
            Selector::parse("device").unwrap(),
            Selector::parse("device=cuda").unwrap(),
        ];
        assert!(StageRule::new(2, 1, &loose).is_ok());
    }

    #[test]
    fn the_driver_must_fit_host_0_and_peers_fit_theirs() {
        let rule = rule(2, 2, &["role=driver", "device=cuda"]);
        let (cpu, gpu, driver) = (
            labels(&[("device", "cpu")]),
            labels(&[("device", "cuda")]),
            labels(&[("role", "driver")]),
        );
        let candidates = [
            Candidate {
                agent: "a",
                address: "127.0.0.1:1",
                labels: &cpu,
            },
            Candidate {
                agent: "b",
                address: "127.0.0.1:2",
                labels: &gpu,
            },
        ];
        assert_eq!(
            rule.choose(&cpu, &candidates),
            Err(Unplaced::Driver("labels role=driver".into()))
        );
        let chosen = rule.choose(&driver, &candidates).unwrap();
        assert_eq!(chosen.peers, ["b"]);
        assert_eq!(chosen.placement.host_of, [0, 1]);
        assert_eq!(chosen.placement.addresses, ["127.0.0.1:2"]);
        chosen.placement.check(2).unwrap();
        assert_eq!(
            rule.choose(&driver, &candidates[..1]),
            Err(Unplaced::NoHost {
                host: 1,
                needs: "labels device=cuda".into()
            })
        );
    }

    #[test]
    fn enough_distinct_hosts_are_needed_and_an_agent_is_not_wasted_on_the_wrong_host() {
        let rule = rule(3, 3, &["", "", "device=cuda"]);
        let (plain, gpu) = (BTreeMap::new(), labels(&[("device", "cuda")]));
        let c = |agent, address, labels| Candidate {
            agent,
            address,
            labels,
        };
        // Greedy would give host 1 to the GPU agent and leave host 2 unfilled.
        let candidates = [c("g", "h:1", &gpu), c("p", "h:2", &plain)];
        let chosen = rule.choose(&plain, &candidates).unwrap();
        assert_eq!(chosen.peers, ["p", "g"]);
        // One agent (or one address twice) cannot be two hosts; no address, no host.
        for short in [
            vec![c("g", "h:1", &gpu)],
            vec![c("g", "h:1", &gpu), c("g", "h:3", &plain)],
            vec![c("g", "h:1", &gpu), c("p", "h:1", &plain)],
            vec![c("g", "h:1", &gpu), c("p", "", &plain)],
        ] {
            assert!(
                matches!(rule.choose(&plain, &short), Err(Unplaced::NoHost { .. })),
                "{short:?}"
            );
        }
        assert!(matches!(
            rule.choose(&plain, &[c("p", "h:2", &plain)]),
            Err(Unplaced::NoHost { host: 2, .. })
        ));
    }

    #[test]
    fn one_host_needs_no_candidates() {
        let rule = rule(2, 1, &["zone=a", ""]);
        let chosen = rule.choose(&labels(&[("zone", "a")]), &[]).unwrap();
        assert!(chosen.placement.is_local() && chosen.peers.is_empty());
        assert!(rule.choose(&BTreeMap::new(), &[]).is_err());
    }
}
