//! The Sideways schedule against exact backprop, BPTT against finite differences, and the
//! threaded pipeline against the single-threaded reference.

use ndarray::{ArrayD, IxDyn};
use pathnet_nn::sideways::{
    Bptt, Combine, FrameSource, FramesVec, LinkMsg, OptimizerSpec, PerFrame, Pipeline, Placement,
    SidewaysConfig, SidewaysError, Stage, StageNet, StageTrainer, ThreadedPipeline, UpdateSchedule,
    evaluate_pipelined,
};
use pathnet_nn::{
    Conv2d, Conv2dSpec, Flatten, Float, Init, Linear, Relu, Sequential, SgdConfig, Tanh,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FRAME: [usize; 3] = [2, 4, 4];
const CLASSES: usize = 3;

fn conv(i: usize, o: usize) -> Conv2dSpec {
    Conv2dSpec {
        in_channels: i,
        out_channels: o,
        kernel: 3,
        stride: 1,
        padding: 1,
    }
}

/// Three stages: conv+tanh, flatten+linear+tanh, linear. Smooth, so finite differences hold.
fn chain<F: Float>(seed: u64) -> StageNet<F> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stages = vec![
        Stage::new(
            Sequential::default()
                .with(Conv2d::new(conv(2, 3), Init::XavierNormal, &mut rng))
                .with(Tanh),
        ),
        Stage::new(
            Sequential::default()
                .with(Flatten)
                .with(Linear::new(48, 6, Init::XavierNormal, &mut rng))
                .with(Tanh),
        ),
        Stage::new(Sequential::default().with(Linear::new(
            6,
            CLASSES,
            Init::XavierNormal,
            &mut rng,
        ))),
    ];
    StageNet::new(stages, &FRAME).unwrap()
}

/// Four stages with skips of both combine kinds, adapters with and without parameters, and a
/// skip straight from the frames.
fn skips<F: Float>(seed: u64) -> StageNet<F> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let stages = vec![
        Stage::new(
            Sequential::default()
                .with(Conv2d::new(conv(2, 3), Init::XavierNormal, &mut rng))
                .with(Tanh),
        ),
        // Concat of stage 1 (3 channels) and the frame (2 channels) via a 1x1 conv to 2.
        Stage::new(
            Sequential::default()
                .with(Conv2d::new(conv(5, 2), Init::XavierNormal, &mut rng))
                .with(Tanh),
        )
        .with_combine(Combine::Concat)
        .with_skip(
            2,
            Sequential::default().with(Conv2d::new(
                Conv2dSpec {
                    kernel: 1,
                    padding: 0,
                    ..conv(2, 2)
                },
                Init::XavierNormal,
                &mut rng,
            )),
        ),
        Stage::new(
            Sequential::default()
                .with(Flatten)
                .with(Linear::new(32, 6, Init::XavierNormal, &mut rng))
                .with(Tanh),
        ),
        // Sum of stage 3, stage 2 (flattened, projected) and stage 1 (projected).
        Stage::new(Sequential::default().with(Linear::new(
            6,
            CLASSES,
            Init::XavierNormal,
            &mut rng,
        )))
        .with_skip(
            2,
            Sequential::default().with(Flatten).with(Linear::new(
                32,
                6,
                Init::XavierNormal,
                &mut rng,
            )),
        )
        .with_skip(
            3,
            Sequential::default()
                .with(Flatten)
                .with(Linear::new(48, 6, Init::XavierNormal, &mut rng))
                .with(Tanh),
        ),
    ];
    StageNet::new(stages, &FRAME).unwrap()
}

fn random_clip<F: Float>(frames: usize, batch: usize, rng: &mut impl Rng) -> FramesVec<F> {
    let mut shape = vec![batch];
    shape.extend(FRAME);
    FramesVec(
        (0..frames)
            .map(|_| {
                ArrayD::from_shape_simple_fn(IxDyn(&shape), || F::of(rng.random_range(-1.0..1.0)))
            })
            .collect(),
    )
}

fn sgd(lr: f64) -> OptimizerSpec {
    OptimizerSpec::Sgd(SgdConfig { lr, momentum: 0.0 })
}

fn per_clip() -> SidewaysConfig {
    SidewaysConfig {
        update: UpdateSchedule::PerClip,
        drain: true,
    }
}

fn max_diff(a: &ArrayD<f64>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn pipelined_output_at_tick_t_is_the_per_frame_model_on_frame_t_minus_k() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut clip = random_clip::<f64>(7, 2, &mut rng);
    let frames = clip.0.clone();
    let reference = PerFrame::new(chain::<f64>(5), &sgd(0.1), UpdateSchedule::PerClip).unwrap();
    let mut pipeline = Pipeline::new(chain::<f64>(5), &sgd(0.1), per_clip()).unwrap();
    let k = 3;
    let mut seen = 0;
    pipeline
        .train_clip_observed(&mut clip, &[0, 2], &mut |tick, stage, out| {
            if stage + 1 != k {
                return;
            }
            match &out.activation {
                None => assert!(tick < k, "tick {tick}: top stage idle after warm-up"),
                Some(y) => {
                    assert!(
                        tick >= k,
                        "tick {tick}: output before any frame reached the top"
                    );
                    let frame = (tick - k).min(frames.len() - 1);
                    let want = reference.predict(&frames[frame]);
                    assert_eq!(**y, want, "tick {tick} vs frame {frame}");
                    seen += 1;
                }
            }
        })
        .unwrap();
    // 7 frames + 2K - 1 drain ticks, the top stage idle for the first K.
    assert_eq!(seen, 7 + 2 * k - 1 - k);
}

/// Stage `k`'s Sideways gradients on a constant video equal exact backprop's on the ticks
/// where the gradients of every path from the top have arrived: from tick `2K - k` (the
/// chain, the longest path) to `T - 1 + K + shortest` (after that the shorter paths have
/// delivered their last frame's gradient). `shortest(k)` is the fewest hops from the top.
fn constant_video_agrees(net: fn(u64) -> StageNet<f64>, k: usize, shortest: fn(usize) -> usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let frame = random_clip::<f64>(1, 3, &mut rng).0.pop().unwrap();
    let frames = 6;
    let mut clip = FramesVec(vec![frame.clone(); frames]);
    let labels = [1, 0, 2];
    let exact = PerFrame::new(net(9), &sgd(0.1), UpdateSchedule::PerClip).unwrap();
    let scale = 1.0 / frames as f64;
    let (_, want, _) = exact.gradients(0, &frame, &labels, scale);
    let mut pipeline = Pipeline::new(net(9), &sgd(0.1), per_clip()).unwrap();
    pipeline.set_recording(true);
    let mut compared = vec![0; k];
    pipeline
        .train_clip_observed(&mut clip, &labels, &mut |tick, stage, out| {
            let depth = stage + 1;
            let Some(grads) = &out.param_grads else {
                return;
            };
            if tick < 2 * k - depth || tick > frames - 1 + k + shortest(depth) {
                return;
            }
            for (g, w) in grads.iter().zip(&want[stage]) {
                assert!(
                    max_diff(g, w) < 1e-12,
                    "stage {} tick {tick}: {}",
                    stage + 1,
                    max_diff(g, w)
                );
            }
            compared[stage] += 1;
        })
        .unwrap();
    let want: Vec<usize> = (1..=k).map(|d| frames + d + shortest(d) - k).collect();
    assert_eq!(compared, want);
}

#[test]
fn on_a_constant_video_sideways_gradients_equal_exact_backprop() {
    constant_video_agrees(chain, 3, |depth| 3 - depth);
    // Stages 1, 2 and 3 all feed the top stage directly.
    constant_video_agrees(skips, 4, |depth| usize::from(depth < 4));
}

/// The schedule written out from its definition for a chain: stage `d` at tick `t` holds the
/// activation of frame `t - d` and applies the gradient stage `d + 1` sent at `t - 1`, which
/// is stage `d + 1`'s Jacobian at frame `t - 1 - (d + 1)` applied to what it received in turn;
/// the top's gradient is its exact loss gradient on frame `t - K`. So stage `d` combines
/// Jacobians of frames `t - d, t - d - 2, ...` with the loss of frame `t - 2K + d`.
#[test]
fn sideways_combines_jacobians_of_the_frames_the_schedule_says() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut clip = random_clip::<f64>(6, 2, &mut rng);
    let frames = clip.0.clone();
    let labels = [2, 1];
    let k = 3;
    let scale = 1.0 / frames.len() as f64;
    let stages = chain::<f64>(4).into_stages();
    let frame_at = |f: usize| &frames[f.min(frames.len() - 1)];
    // The input of stage `d` (1-based) on frame `f`, and its cache there.
    let input_of = |d: usize, f: usize| {
        let mut x = frame_at(f).clone();
        for s in &stages[..d - 1] {
            x = s.forward(&[x.view()]).0;
        }
        x
    };
    // What stage `d` sends down at tick `t`.
    fn sent(
        d: usize,
        t: usize,
        k: usize,
        stages: &[Stage<f64>],
        input_of: &dyn Fn(usize, usize) -> ArrayD<f64>,
        labels: &[usize],
        scale: f64,
    ) -> ArrayD<f64> {
        let x = input_of(d, t - d);
        let (y, cache) = stages[d - 1].forward(&[x.view()]);
        let upstream = if d == k {
            let logits = y.into_dimensionality::<ndarray::Ix2>().unwrap();
            pathnet_nn::cross_entropy(logits.view(), labels)
                .unwrap()
                .grad
                .into_dyn()
                * scale
        } else {
            sent(d + 1, t - 1, k, stages, input_of, labels, scale)
        };
        stages[d - 1]
            .backward(&cache, upstream.view(), &[true])
            .input_grads[0]
            .take()
            .unwrap()
    }
    let mut pipeline = Pipeline::new(chain::<f64>(4), &sgd(0.1), per_clip()).unwrap();
    pipeline.set_recording(true);
    let mut checked = 0;
    pipeline
        .train_clip_observed(&mut clip, &labels, &mut |tick, stage, out| {
            let Some(grads) = &out.param_grads else {
                return;
            };
            let d = stage + 1;
            if d == k {
                return;
            }
            let upstream = sent(d + 1, tick - 1, k, &stages, &input_of, &labels, scale);
            let x = input_of(d, tick - d);
            let (_, cache) = stages[stage].forward(&[x.view()]);
            let want = stages[stage]
                .backward(&cache, upstream.view(), &[false])
                .param_grads;
            for (g, w) in grads.iter().zip(&want) {
                assert!(max_diff(g, w) < 1e-12, "stage {d} tick {tick}");
            }
            checked += 1;
        })
        .unwrap();
    assert_eq!(checked, 2 * 6);
}

/// BPTT over the pipelined network against central differences of the clip loss, for every
/// parameter of every stage (skip adapters included).
fn bptt_matches_finite_differences(net: fn(u64) -> StageNet<f64>, config: SidewaysConfig) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let clip = random_clip::<f64>(5, 2, &mut rng);
    let labels = [0, 2];
    let bptt = Bptt::new(net(7), &sgd(0.1), config).unwrap();
    let (_, analytic) = bptt
        .gradients(&mut FramesVec(clip.0.clone()), &labels)
        .unwrap();
    let mut model = bptt.into_net();
    let eps = 1e-6;
    let loss = |model: &StageNet<f64>| {
        let stages: Vec<&Stage<f64>> = model.stages().iter().collect();
        evaluate_pipelined(
            &stages,
            model.topology(),
            config,
            &mut FramesVec(clip.0.clone()),
            &labels,
        )
        .unwrap()
        .mean_loss
    };
    let mut checked = 0;
    for (s, stage_grads) in analytic.iter().enumerate() {
        for (p, tensor) in stage_grads.iter().enumerate() {
            for (j, &a) in tensor.iter().enumerate() {
                let nudge = |model: &mut StageNet<f64>, d: f64| {
                    let mut params = model.stages_mut()[s].params_mut();
                    let v = params[p].iter_mut().nth(j).unwrap();
                    *v += d;
                };
                nudge(&mut model, eps);
                let plus = loss(&model);
                nudge(&mut model, -2.0 * eps);
                let minus = loss(&model);
                nudge(&mut model, eps);
                let numeric = (plus - minus) / (2.0 * eps);
                let rel = (a - numeric).abs() / (a.abs() + numeric.abs()).max(1e-6);
                assert!(
                    rel < 1e-5,
                    "stage {} param {p}[{j}]: {a} vs {numeric}",
                    s + 1
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
}

#[test]
fn bptt_gradients_match_finite_differences_through_skips_and_delays() {
    bptt_matches_finite_differences(skips, per_clip());
    bptt_matches_finite_differences(
        chain,
        SidewaysConfig {
            drain: false,
            ..per_clip()
        },
    );
}

#[test]
fn per_frame_gradients_match_finite_differences_on_the_skip_dag() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let frame = random_clip::<f64>(1, 2, &mut rng).0.pop().unwrap();
    let labels = [1, 2];
    let exact = PerFrame::new(skips::<f64>(3), &sgd(0.1), UpdateSchedule::PerTick).unwrap();
    let (_, analytic, _) = exact.gradients(0, &frame, &labels, 1.0);
    let mut model = exact.into_net();
    let eps = 1e-6;
    for (s, stage_grads) in analytic.iter().enumerate() {
        for (p, tensor) in stage_grads.iter().enumerate() {
            for (j, &a) in tensor.iter().enumerate() {
                let mut at = |d: f64| {
                    *model.stages_mut()[s].params_mut()[p]
                        .iter_mut()
                        .nth(j)
                        .unwrap() += d;
                    let net = std::mem::replace(&mut model, skips(0));
                    let pf = PerFrame::new(net, &sgd(0.1), UpdateSchedule::PerTick).unwrap();
                    let (loss, _, _) = pf.gradients(0, &frame, &labels, 1.0);
                    model = pf.into_net();
                    *model.stages_mut()[s].params_mut()[p]
                        .iter_mut()
                        .nth(j)
                        .unwrap() -= d;
                    loss.loss
                };
                let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
                let rel = (a - numeric).abs() / (a.abs() + numeric.abs()).max(1e-6);
                assert!(
                    rel < 1e-5,
                    "stage {} param {p}[{j}]: {a} vs {numeric}",
                    s + 1
                );
            }
        }
    }
}

fn params_of(net: &StageNet<f32>) -> Vec<Vec<ArrayD<f32>>> {
    net.params()
        .into_iter()
        .map(|stage| stage.into_iter().map(|p| p.to_owned()).collect())
        .collect()
}

fn threaded_equals_reference(net: fn(u64) -> StageNet<f32>, config: SidewaysConfig) {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let clips: Vec<(FramesVec<f32>, Vec<usize>)> = (0..4)
        .map(|i| {
            let len = 5 + 2 * i;
            let clip = random_clip::<f32>(len, 2, &mut rng);
            (clip, vec![i % CLASSES, (i + 1) % CLASSES])
        })
        .collect();
    let mut reference = Pipeline::new(net(11), &sgd(0.05), config).unwrap();
    let mut threaded = ThreadedPipeline::new(net(11), &sgd(0.05), config).unwrap();
    for (clip, labels) in &clips {
        let a = reference
            .train_clip(&mut FramesVec(clip.0.clone()), labels)
            .unwrap();
        let b = threaded
            .train_clip(&mut FramesVec(clip.0.clone()), labels)
            .unwrap();
        assert_eq!(a, b);
        assert!(a.frames > 0);
    }
    let reference = params_of(&reference.into_net());
    let threaded = params_of(&threaded.into_net().unwrap());
    assert_eq!(reference, threaded);
    // Training moved the parameters, so the equality is not vacuous.
    assert_ne!(reference, params_of(&net(11)));
}

#[test]
fn threaded_pipeline_is_bit_identical_to_the_reference_schedule() {
    for update in [UpdateSchedule::PerTick, UpdateSchedule::PerClip] {
        for drain in [true, false] {
            let config = SidewaysConfig { update, drain };
            threaded_equals_reference(chain, config);
            threaded_equals_reference(skips, config);
        }
    }
}

/// The stages of `net(11)` spread over hosts by `host_of`, each host a placed pipeline, the
/// links between them channels with a router thread per host: the same losses and
/// parameters as the single-threaded reference, bit for bit.
fn placed_equals_reference(
    net: fn(u64) -> StageNet<f32>,
    config: SidewaysConfig,
    host_of: &[usize],
) {
    use std::sync::mpsc::{Sender, channel};
    let hosts = host_of.iter().max().unwrap() + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let clips: Vec<(FramesVec<f32>, Vec<usize>)> = (0..3)
        .map(|i| {
            let clip = random_clip::<f32>(6 + 3 * i, 2, &mut rng);
            (clip, vec![i % CLASSES, (i + 2) % CLASSES])
        })
        .collect();
    let mut reference = Pipeline::new(net(11), &sgd(0.05), config).unwrap();
    let (trainers, topology) = StageTrainer::for_net(net(11), &sgd(0.05)).unwrap();
    let mut trainers: Vec<Option<StageTrainer<f32>>> = trainers.into_iter().map(Some).collect();
    let mut pipelines = Vec::new();
    let mut inboxes: Vec<Sender<Option<LinkMsg<f32>>>> = Vec::new();
    let mut outbounds = Vec::new();
    let mut deliveries = Vec::new();
    for me in 0..hosts {
        let placement = Placement {
            host_of: host_of.to_vec(),
            me,
        };
        let mine = (0..host_of.len())
            .map(|i| {
                if host_of[i] == me {
                    trainers[i].take()
                } else {
                    None
                }
            })
            .collect();
        let (pipeline, ends) =
            ThreadedPipeline::placed(mine, topology.clone(), config, &placement).unwrap();
        pipelines.push(pipeline);
        let (tx, rx) = channel::<Option<LinkMsg<f32>>>();
        inboxes.push(tx);
        let mut inbound = ends.inbound;
        deliveries.push(std::thread::spawn(move || {
            while let Ok(Some(msg)) = rx.recv() {
                inbound.deliver(msg).expect("a well-formed message");
            }
        }));
        outbounds.push(ends.outbound);
    }
    let routers: Vec<_> = outbounds
        .into_iter()
        .enumerate()
        .map(|(me, outbound)| {
            // A router holds no way to its own host, so a host's inbound side closes once
            // the others' routers are done.
            let to: Vec<Option<Sender<Option<LinkMsg<f32>>>>> = inboxes
                .iter()
                .enumerate()
                .map(|(h, tx)| (h != me).then(|| tx.clone()))
                .collect();
            std::thread::spawn(move || {
                while let Ok(routed) = outbound.recv() {
                    assert_ne!(routed.host, me, "a message to its own host");
                    // After the run a peer may already have stopped: the messages still in
                    // flight then are the empty tick -1 messages of a clip never started.
                    let _ = to[routed.host].as_ref().unwrap().send(Some(routed.msg));
                }
            })
        })
        .collect();
    for (clip, labels) in &clips {
        let a = reference
            .train_clip(&mut FramesVec(clip.0.clone()), labels)
            .unwrap();
        let b = pipelines[0]
            .train_clip(&mut FramesVec(clip.0.clone()), labels)
            .unwrap();
        assert_eq!(a, b);
        assert!(a.frames > 0);
    }
    let mut placed: Vec<Option<StageTrainer<f32>>> = (0..host_of.len()).map(|_| None).collect();
    let mut pipelines = pipelines.into_iter();
    let driver = pipelines.next().unwrap();
    for (i, t) in driver.into_local_trainers().unwrap().0 {
        placed[i] = Some(t);
    }
    for tx in &inboxes {
        let _ = tx.send(None);
    }
    drop(inboxes);
    for pipeline in pipelines {
        for (i, t) in pipeline.into_local_trainers().unwrap().0 {
            placed[i] = Some(t);
        }
    }
    for thread in routers.into_iter().chain(deliveries) {
        thread.join().unwrap();
    }
    let placed = StageTrainer::into_net(placed.into_iter().map(Option::unwrap).collect(), topology);
    let reference = params_of(&reference.into_net());
    assert_eq!(reference, params_of(&placed), "placement {host_of:?}");
    assert_ne!(reference, params_of(&net(11)));
}

#[test]
fn stages_placed_on_several_hosts_train_bit_identically_to_the_reference() {
    for update in [UpdateSchedule::PerTick, UpdateSchedule::PerClip] {
        let config = SidewaysConfig {
            update,
            drain: true,
        };
        placed_equals_reference(chain, config, &[0, 1, 1]);
        placed_equals_reference(chain, config, &[1, 0, 2]);
        placed_equals_reference(skips, config, &[0, 0, 1, 1]);
        placed_equals_reference(skips, config, &[1, 2, 0, 1]);
    }
    placed_equals_reference(
        skips,
        SidewaysConfig {
            update: UpdateSchedule::PerClip,
            drain: false,
        },
        &[0, 1, 0, 1],
    );
}

#[test]
fn a_link_refuses_messages_that_do_not_fit_the_wiring() {
    let config = per_clip();
    let (trainers, topology) = StageTrainer::for_net(chain::<f32>(1), &sgd(0.1)).unwrap();
    let mine = trainers
        .into_iter()
        .enumerate()
        .map(|(i, t)| (i != 0).then_some(t))
        .collect();
    let placement = Placement {
        host_of: vec![0, 1, 1],
        me: 1,
    };
    let (pipeline, ends) = ThreadedPipeline::placed(mine, topology, config, &placement).unwrap();
    let mut inbound = ends.inbound;
    let tag = |tick| pathnet_nn::sideways::Tag { clip: 0, tick };
    inbound
        .deliver(LinkMsg::Clip {
            frames: 2,
            labels: vec![0, 1],
        })
        .unwrap();
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 5]));
    let err = inbound
        .deliver(LinkMsg::Activation {
            stage: 1,
            edge: 0,
            tag: tag(0),
            value: Some(std::sync::Arc::new(wrong)),
        })
        .unwrap_err();
    assert!(err.to_string().contains("[2, 5]"), "{err}");
    let err = inbound
        .deliver(LinkMsg::Activation {
            stage: 2,
            edge: 0,
            tag: tag(0),
            value: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("stage 3"), "{err}");
    let err = inbound
        .deliver(LinkMsg::Grad {
            stage: 7,
            edge: 0,
            tag: tag(0),
            value: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("stage 8"), "{err}");
    inbound
        .deliver(LinkMsg::Activation {
            stage: 1,
            edge: 0,
            tag: tag(1),
            value: None,
        })
        .unwrap();
    let err = inbound
        .deliver(LinkMsg::Activation {
            stage: 1,
            edge: 0,
            tag: tag(1),
            value: None,
        })
        .unwrap_err();
    assert!(err.to_string().contains("tick 1 after"), "{err}");
    let err = inbound
        .deliver(LinkMsg::Clip {
            frames: 2,
            labels: vec![0, 9],
        })
        .unwrap_err();
    assert!(err.to_string().contains('9'), "{err}");
    drop(inbound);
    drop(ends.outbound);
    // The stages here started a clip whose messages never came: dropping the inbound side
    // ends them, and the pipeline stops rather than hangs.
    assert!(pipeline.into_local_trainers().is_ok());
}

#[test]
fn one_stage_sideways_is_per_frame_backprop() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let one = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let body = Sequential::default()
            .with(Flatten)
            .with(Linear::new(32, 5, Init::XavierNormal, &mut rng))
            .with(Relu)
            .with(Linear::new(5, CLASSES, Init::XavierNormal, &mut rng));
        StageNet::<f64>::new(vec![Stage::new(body)], &FRAME).unwrap()
    };
    let clip = random_clip::<f64>(5, 2, &mut rng);
    let config = SidewaysConfig {
        update: UpdateSchedule::PerTick,
        drain: true,
    };
    let mut sideways = Pipeline::new(one(1), &sgd(0.1), config).unwrap();
    let mut exact = PerFrame::new(one(1), &sgd(0.1), UpdateSchedule::PerTick).unwrap();
    let a = sideways
        .train_clip(&mut FramesVec(clip.0.clone()), &[0, 1])
        .unwrap();
    let b = exact
        .train_clip(&mut FramesVec(clip.0.clone()), &[0, 1])
        .unwrap();
    assert_eq!(a.mean_loss, b.mean_loss);
    let pa: Vec<ArrayD<f64>> = sideways.into_net().stages()[0]
        .params()
        .iter()
        .map(|p| p.to_owned())
        .collect();
    let pb: Vec<ArrayD<f64>> = exact.into_net().stages()[0]
        .params()
        .iter()
        .map(|p| p.to_owned())
        .collect();
    assert_eq!(pa, pb);
}

#[test]
fn wiring_and_clip_errors_name_the_bad_value() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let lin = |i, o, rng: &mut ChaCha8Rng| {
        Sequential::<f32>::default()
            .with(Flatten)
            .with(Linear::new(i, o, Init::XavierNormal, rng))
    };
    let err = StageNet::new(
        vec![Stage::new(lin(32, 4, &mut rng)).with_skip(2, Sequential::default())],
        &FRAME,
    )
    .err()
    .unwrap();
    assert_eq!(
        err,
        SidewaysError::BadSpan {
            stage: 1,
            span: 2,
            max: 1
        }
    );
    let err = StageNet::new(
        vec![
            Stage::new(lin(32, 4, &mut rng)),
            Stage::new(lin(4, 3, &mut rng)).with_skip(2, Sequential::default()),
        ],
        &FRAME,
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, SidewaysError::CombineShapes { stage: 2, .. }),
        "{err}"
    );
    let err = StageNet::new(vec![Stage::new(lin(31, 4, &mut rng))], &FRAME)
        .err()
        .unwrap();
    assert!(
        matches!(err, SidewaysError::StageShape { stage: 1, .. }),
        "{err}"
    );

    let mut pipeline = Pipeline::new(chain::<f32>(0), &sgd(0.1), per_clip()).unwrap();
    let mut clip = random_clip::<f32>(3, 2, &mut rng);
    let err = pipeline.train_clip(&mut clip, &[0, 3]).unwrap_err();
    assert_eq!(
        err,
        SidewaysError::LabelRange {
            video: 1,
            label: 3,
            classes: 3
        }
    );
    assert!(err.to_string().contains("label 3"));
    clip.0[1] = ArrayD::zeros(IxDyn(&[2, 2, 4, 5]));
    let err = pipeline.train_clip(&mut clip, &[0, 1]).unwrap_err();
    assert!(
        matches!(err, SidewaysError::FrameShape { frame: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        pipeline.train_clip(&mut FramesVec::<f32>(vec![]), &[]),
        Err(SidewaysError::EmptyClip)
    ));
    let bad = OptimizerSpec::Sgd(SgdConfig {
        lr: -1.0,
        momentum: 0.0,
    });
    assert!(matches!(
        Pipeline::new(chain::<f32>(0), &bad, per_clip()),
        Err(SidewaysError::Optimizer(_))
    ));
    let _ = clip.len();
}

/// Placing a network on the CPU wraps each stage's parts but changes no result; a CUDA device
/// in a build without the `cuda` feature is refused and leaves the network as it was.
#[test]
fn placed_on_the_cpu_sideways_trains_bit_identically() {
    use pathnet_nn::Device;
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let clip = random_clip::<f32>(6, 2, &mut rng);
    let labels = vec![0, 2];
    let mut placed = skips::<f32>(13);
    placed.place(Device::Cpu).unwrap();
    #[cfg(not(feature = "cuda"))]
    {
        let err = placed.place(Device::Cuda(0)).unwrap_err();
        assert!(err.to_string().contains("`cuda` feature"), "{err}");
    }
    assert_eq!(params_of(&placed), params_of(&skips(13)));
    let mut results = Vec::new();
    for net in [skips::<f32>(13), placed] {
        let mut pipeline = ThreadedPipeline::new(net, &sgd(0.05), per_clip()).unwrap();
        let report = pipeline
            .train_clip(&mut FramesVec(clip.0.clone()), &labels)
            .unwrap();
        results.push((report, params_of(&pipeline.into_net().unwrap())));
    }
    assert_eq!(results[0], results[1]);
}
