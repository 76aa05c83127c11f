//! Conversions between safe-mutation PathNet jobs and their `pathnet.v1` messages: a pathway
//! genome travels as its seed list, with the earlier tasks' genomes the base network is made
//! of, and the problem as TOML in the evolution crate's own schema. Reports are those of the
//! seed-list GAs ([`crate::genome_wire::outcome_to_report`]).

use crate::genome_wire::{genome_from_wire, genome_to_wire};
use crate::wire::WireError;
use pathnet_evo::sm_pathnet::{PathwayJob, PathwayProblem, Transfer};
use pathnet_proto::v1::{self, work_item::Payload};

fn evaluation(job: &PathwayJob) -> v1::PathwayGenomeEvaluation {
    v1::PathwayGenomeEvaluation {
        config_toml: toml::to_string(&job.problem).expect("a problem is plain TOML data"),
        task: job.task as u32,
        transfers: job
            .transfers
            .iter()
            .map(|t| v1::TransferGenome {
                task: t.task as u32,
                genome: Some(genome_to_wire(&t.genome)),
            })
            .collect(),
        genome: Some(genome_to_wire(&job.genome())),
    }
}

/// The work item payload asking an agent to evaluate `job`'s genome.
pub fn job_payload(job: &PathwayJob) -> Payload {
    Payload::PathwayGenomeEvaluation(evaluation(job))
}

/// Bytes of the genome and of the transfers' genomes in the message: what stands for the
/// weights.
pub fn genome_bytes(job: &PathwayJob) -> usize {
    let e = evaluation(job);
    let genome = e.genome.as_ref().map_or(0, prost::Message::encoded_len);
    let transfers: usize = e.transfers.iter().map(prost::Message::encoded_len).sum();
    genome + transfers
}

/// Bytes of the whole payload, problem included.
pub fn payload_bytes(job: &PathwayJob) -> usize {
    prost::Message::encoded_len(&evaluation(job))
}

/// Decodes an evaluation into a job: the genome's last mutation is the child's own, the rest
/// its parent (which the agent may hold in its rebuild cache).
pub fn job_from_payload(e: &v1::PathwayGenomeEvaluation) -> Result<PathwayJob, WireError> {
    let problem: PathwayProblem = toml::from_str(&e.config_toml)
        .map_err(|err| WireError::invalid("config_toml", "(the problem)", err.to_string()))?;
    let genome = genome_from_wire(e.genome.as_ref().ok_or(WireError::Missing("genome"))?)?;
    let transfers = e
        .transfers
        .iter()
        .map(|t| {
            Ok(Transfer {
                task: t.task as usize,
                genome: genome_from_wire(
                    t.genome
                        .as_ref()
                        .ok_or(WireError::Missing("transfers.genome"))?,
                )?,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    let (parent, mutation) = match genome.mutations.last() {
        Some(&last) => (genome.prefix(genome.depth() - 1), Some(last)),
        None => (genome, None),
    };
    let job = PathwayJob {
        problem,
        task: e.task as usize,
        transfers,
        parent,
        mutation,
    };
    job.validate().map_err(|err| {
        WireError::invalid("pathway_genome_evaluation", "(the job)", err.to_string())
    })?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathnet_evo::sm_pathnet::{
        ConvLayers, DataTask, Hybrid, PathwayRebuildCache, PathwayTask, evaluate_pathway, rebuild,
    };
    use pathnet_evo::{Genome, Mutation, Operator};

    fn job() -> PathwayJob {
        let problem = PathwayProblem {
            tasks: vec![
                PathwayTask::Env("CartPole-v1".into()),
                PathwayTask::Env("Acrobot-v1".into()),
            ],
            layers: 2,
            modules: 4,
            max_active: 2,
            units: 8,
            conv: None,
            base_seed: 3,
            episodes: 1,
            episode_seed: 9,
            max_experience: 16,
            eval_examples: 256,
            hybrid: None,
        };
        let lineage = |seed: u64, n: u64| {
            (0..n).fold(Genome::fresh(seed), |g, i| {
                g.child(Mutation {
                    seed: seed * 100 + i,
                    magnitude: 0.05,
                    operator: Operator::ALL[(i % 5) as usize],
                })
            })
        };
        let genome = lineage(2, 3);
        PathwayJob {
            problem,
            task: 1,
            transfers: vec![Transfer {
                task: 0,
                genome: lineage(1, 4),
            }],
            parent: genome.prefix(2),
            mutation: genome.mutations.last().copied(),
        }
    }

    /// The coordinator's job and the one an agent decodes rebuild the same weights, bit for
    /// bit, and score the same fitness.
    #[test]
    fn a_job_round_trips_and_rebuilds_bit_for_bit() {
        let sent = job();
        agent_rebuilds_bit_for_bit(&sent);
        assert!(genome_bytes(&sent) < 200, "{}", genome_bytes(&sent));
        assert!(payload_bytes(&sent) > genome_bytes(&sent));
    }

    /// The same over conv modules on MinAtar: Breakout's 4 channels padded to Freeway's 7,
    /// every safe-mutation operator in the lineage, over Freeway's frozen pathway.
    #[test]
    fn a_minatar_conv_job_rebuilds_bit_for_bit_on_an_agent() {
        let mut sent = job();
        sent.problem.tasks = vec![
            PathwayTask::Env("MinAtar/Freeway-v1".into()),
            PathwayTask::Env("MinAtar/Breakout-v1".into()),
        ];
        sent.problem.conv = Some(ConvLayers {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: 0,
        });
        // Two mutations of the transfer (control, SM-R): one Freeway evaluation of 2,500
        // steps per cold rebuild of the base network.
        let transfer = &mut sent.transfers[0].genome;
        *transfer = transfer.prefix(2);
        let there = agent_rebuilds_bit_for_bit(&sent);
        assert_eq!(there.net.input_shape(), [7, 10, 10]);
    }

    /// Sends `sent` through its wire message and checks that the decoded job rebuilds (with
    /// nothing cached) the weights and pathway of the original and scores the same fitness.
    fn agent_rebuilds_bit_for_bit(sent: &PathwayJob) -> pathnet_evo::sm_pathnet::rebuild::Rebuilt {
        pathnet_nn::set_threads(1);
        let Payload::PathwayGenomeEvaluation(e) = job_payload(sent) else {
            panic!("a pathway genome evaluation");
        };
        let bytes = prost::Message::encode_to_vec(&e);
        let decoded: v1::PathwayGenomeEvaluation = prost::Message::decode(&bytes[..]).unwrap();
        let received = job_from_payload(&decoded).unwrap();
        assert_eq!(&received, sent);
        let here = rebuild(sent, &PathwayRebuildCache::new(16)).unwrap();
        let there = rebuild(&received, &PathwayRebuildCache::new(0)).unwrap();
        let flat = |net: &pathnet_nn::pathnet::PathNet<f32>| -> Vec<u32> {
            net.module_ids()
                .flat_map(|id| {
                    net.params(id)
                        .unwrap()
                        .iter()
                        .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        assert_eq!(flat(&here.net), flat(&there.net));
        assert_eq!(here.pathway, there.pathway);
        let a = evaluate_pathway(sent, &PathwayRebuildCache::new(0)).unwrap();
        let b = evaluate_pathway(&received, &PathwayRebuildCache::new(0)).unwrap();
        assert_eq!(a.fitness.to_bits(), b.fitness.to_bits());
        there
    }

    /// A hybrid job over real MNIST digits, then Fashion-MNIST over the digits' frozen
    /// pathway: the agent (its own loader, nothing cached) rebuilds the coordinator's SGD-trained
    /// and mutated weights bit for bit and measures the same accuracy.
    #[test]
    fn a_hybrid_dataset_job_rebuilds_bit_for_bit_on_an_agent() {
        pathnet_nn::set_threads(1);
        let mnist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
        let fashion = std::path::PathBuf::from("/usr/share/datasets/fashion-mnist");
        let task = |dir: &std::path::Path, classes| {
            PathwayTask::Data(DataTask {
                dir: dir.to_path_buf(),
                classes,
                noise: 0.1,
                noise_seed: 5,
            })
        };
        let mut sent = job();
        sent.problem.tasks = vec![task(&mnist, [3, 5]), task(&fashion, [5, 7])];
        sent.problem.eval_examples = 100;
        sent.problem.hybrid = Some(Hybrid {
            minibatches: 3,
            batch_size: 8,
            learning_rate: 0.01,
        });
        let Payload::PathwayGenomeEvaluation(e) = job_payload(&sent) else {
            panic!("a pathway genome evaluation");
        };
        let received = job_from_payload(&e).unwrap();
        assert_eq!(received, sent);
        let coordinator = crate::TaskDataCache::new(None);
        let here = PathwayRebuildCache::new(16).with_examples(std::sync::Arc::new(coordinator));
        let there = PathwayRebuildCache::new(0)
            .with_examples(std::sync::Arc::new(crate::TaskDataCache::new(None)));
        let a = evaluate_pathway(&sent, &here).unwrap();
        let b = evaluate_pathway(&received, &there).unwrap();
        assert_eq!(a.fitness.to_bits(), b.fitness.to_bits());
        assert!((0.0..=1.0).contains(&a.fitness), "{}", a.fitness);
        let flat = |net: &pathnet_nn::pathnet::PathNet<f32>| -> Vec<u32> {
            net.module_ids()
                .flat_map(|id| {
                    net.params(id)
                        .unwrap()
                        .iter()
                        .flat_map(|p| p.iter().map(|w| w.to_bits()).collect::<Vec<_>>())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        assert_eq!(
            flat(&rebuild(&sent, &here).unwrap().net),
            flat(&rebuild(&received, &there).unwrap().net)
        );
        // The wire carries no more than for an environment task: the SGD is rebuilt, not sent.
        assert_eq!(genome_bytes(&sent), genome_bytes(&job()));
    }

    #[test]
    fn malformed_evaluations_are_refused() {
        let Payload::PathwayGenomeEvaluation(mut e) = job_payload(&job()) else {
            unreachable!()
        };
        e.task = 7;
        let err = job_from_payload(&e).unwrap_err().to_string();
        assert!(err.contains("task"), "{err}");
        e.task = 1;
        e.genome = None;
        assert!(job_from_payload(&e).is_err());
        let Payload::PathwayGenomeEvaluation(mut e) = job_payload(&job()) else {
            unreachable!()
        };
        e.config_toml = "envs = 3".into();
        assert!(job_from_payload(&e).is_err());
    }
}
