//! The CUDA device against the CPU layers: same inputs and parameters, outputs and gradients
//! within 1e-5 of the CPU's (relative to the tensor's largest element), directional finite
//! differences, the optimiser steps, the memory pool and placement. Without a CUDA device (or
//! without the `cuda` feature) every test says why it was skipped and passes.

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_device() {
    println!("skipped: no CUDA device (built without the `cuda` feature)");
}

#[cfg(feature = "cuda")]
mod on_gpu {
    use ndarray::{ArrayD, Ix2};
    use pathnet_nn::cuda::Gpu;
    use pathnet_nn::cuda::{GpuNet, GpuOptimizer, GpuTensor, cross_entropy as gpu_cross_entropy};
    use pathnet_nn::{
        Adam, AdamConfig, Conv2d, Conv2dSpec, Device, Elu, Flatten, Init, Layer, Linear,
        LogSoftmax, Optimizer, Relu, RmsProp, RmsPropConfig, Sequential, Sgd, SgdConfig, Sigmoid,
        Softmax, Tanh, cross_entropy, place,
    };
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::sync::Arc;

    const TOLERANCE: f64 = 1e-5;

    fn gpu() -> Option<Arc<Gpu>> {
        match pathnet_nn::cuda_devices() {
            Ok(_) => Some(Gpu::open(0).expect("a CUDA device is present, so cuda:0 opens")),
            Err(why) => {
                println!("skipped: no CUDA device ({why})");
                None
            }
        }
    }

    fn random(shape: &[usize], rng: &mut impl Rng) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(shape.to_vec(), || rng.random_range(-1.0f32..1.0))
    }

    /// `max |gpu − cpu| / max |cpu|` must not exceed the tolerance.
    fn assert_close(gpu: &ArrayD<f32>, cpu: &ArrayD<f32>, what: &str) {
        assert_eq!(gpu.shape(), cpu.shape(), "{what}: shapes differ");
        let scale = cpu
            .iter()
            .fold(0.0f64, |m, &v| m.max(v.abs() as f64))
            .max(1e-30);
        let worst = gpu
            .iter()
            .zip(cpu)
            .fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
        let rel = worst / scale;
        println!("{what}: max |gpu - cpu| / max |cpu| = {rel:.2e}");
        assert!(
            rel <= TOLERANCE,
            "{what}: relative difference {rel:e} > {TOLERANCE:e}"
        );
    }

    /// Builds the same layer twice from one seed: one stays on the CPU, one goes to the GPU.
    fn compare(
        name: &str,
        build: impl Fn(&mut ChaCha8Rng) -> Box<dyn Layer<f32>>,
        input_shape: &[usize],
    ) {
        let Some(gpu) = gpu() else { return };
        let cpu = build(&mut ChaCha8Rng::seed_from_u64(7));
        let net = GpuNet::new(build(&mut ChaCha8Rng::seed_from_u64(7)), &gpu).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let x = random(input_shape, &mut rng);
        let want = cpu.forward(x.view());
        let got = net.forward(x.view());
        assert_close(&got.output, &want.output, &format!("{name} output"));
        let dy = random(want.output.shape(), &mut rng);
        let want_b = cpu.backward(&want.cache, dy.view());
        let got_b = net.backward(&got.cache, dy.view());
        assert_close(
            &got_b.input_grad,
            &want_b.input_grad,
            &format!("{name} input gradient"),
        );
        assert_eq!(got_b.param_grads.len(), want_b.param_grads.len());
        for (i, (g, w)) in got_b
            .param_grads
            .iter()
            .zip(&want_b.param_grads)
            .enumerate()
        {
            assert_close(g, w, &format!("{name} parameter {i} gradient"));
        }
        let params_only = net.backward_params(&got.cache, dy.view());
        for (i, (g, w)) in params_only.iter().zip(&want_b.param_grads).enumerate() {
            assert_close(
                g,
                w,
                &format!("{name} parameter {i} gradient (parameters only)"),
            );
        }
    }

    fn conv(i: usize, o: usize, k: usize, s: usize, p: usize) -> Conv2dSpec {
        Conv2dSpec {
            in_channels: i,
            out_channels: o,
            kernel: k,
            stride: s,
            padding: p,
        }
    }

    fn a3c_net(rng: &mut ChaCha8Rng) -> Sequential<f32> {
        Sequential::default()
            .with(Conv2d::new(conv(4, 16, 8, 4, 0), Init::HeUniform, rng))
            .with(Relu)
            .with(Conv2d::new(conv(16, 32, 4, 2, 0), Init::HeUniform, rng))
            .with(Relu)
            .with(Flatten)
            .with(Linear::new(32 * 9 * 9, 256, Init::HeUniform, rng))
            .with(Relu)
            .with(Linear::new(256, 6, Init::XavierUniform, rng))
    }

    #[test]
    fn linear_matches_cpu() {
        compare(
            "linear",
            |rng| Box::new(Linear::new(37, 19, Init::XavierUniform, rng)),
            &[5, 37],
        );
    }

    #[test]
    fn activations_match_cpu() {
        compare("relu", |_| Box::new(Relu), &[4, 33]);
        compare("tanh", |_| Box::new(Tanh), &[3, 2, 5]);
        compare("sigmoid", |_| Box::new(Sigmoid), &[4, 17]);
        compare("elu", |_| Box::new(Elu { alpha: 0.7 }), &[4, 17]);
        compare("softmax", |_| Box::new(Softmax), &[6, 9]);
        compare("log_softmax", |_| Box::new(LogSoftmax), &[6, 9]);
    }

    #[test]
    fn convolutions_match_cpu() {
        // Padding and strides that do not divide evenly exercise im2col's borders and
        // col2im's gathers.
        compare(
            "conv k3 s1 p1",
            |rng| Box::new(Conv2d::new(conv(3, 5, 3, 1, 1), Init::HeUniform, rng)),
            &[2, 3, 9, 7],
        );
        compare(
            "conv k4 s3 p2",
            |rng| Box::new(Conv2d::new(conv(2, 4, 4, 3, 2), Init::HeUniform, rng)),
            &[3, 2, 11, 10],
        );
        compare(
            "conv net with flatten",
            |rng| {
                Box::new(
                    Sequential::default()
                        .with(Conv2d::new(conv(2, 3, 3, 2, 0), Init::HeUniform, rng))
                        .with(Tanh)
                        .with(Flatten)
                        .with(Linear::new(3 * 3 * 3, 4, Init::XavierUniform, rng)),
                )
            },
            &[2, 2, 7, 7],
        );
    }

    #[test]
    fn a3c_conv_net_matches_cpu() {
        compare(
            "a3c conv net",
            |rng| Box::new(a3c_net(rng)),
            &[8, 4, 84, 84],
        );
    }

    /// Directional finite differences in f32: for a random direction `v`, the change of
    /// `sum(output · r)` along `v` must match `⟨gradient, v⟩`.
    #[test]
    fn directional_finite_differences() {
        let Some(gpu) = gpu() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let layer = Sequential::default()
            .with(Conv2d::new(conv(2, 3, 3, 1, 1), Init::HeUniform, &mut rng))
            .with(Tanh)
            .with(Flatten)
            .with(Linear::new(3 * 6 * 6, 5, Init::XavierUniform, &mut rng))
            .with(Sigmoid);
        let net = GpuNet::new(Box::new(layer), &gpu).unwrap();
        let x = random(&[2, 2, 6, 6], &mut rng);
        let fwd = net.forward(x.view());
        let r = random(fwd.output.shape(), &mut rng);
        let back = net.backward(&fwd.cache, r.view());
        let v = random(x.shape(), &mut rng);
        let loss = |x: &ArrayD<f32>| -> f64 {
            let y = net.forward(x.view()).output;
            y.iter().zip(&r).map(|(&a, &b)| a as f64 * b as f64).sum()
        };
        let eps = 1e-2f32;
        let numeric = (loss(&(&x + &(&v * eps))) - loss(&(&x - &(&v * eps)))) / (2.0 * eps as f64);
        let analytic: f64 = back
            .input_grad
            .iter()
            .zip(&v)
            .map(|(&g, &d)| g as f64 * d as f64)
            .sum();
        let rel = (numeric - analytic).abs() / analytic.abs().max(1e-3);
        println!(
            "directional derivative: numeric {numeric:.6}, analytic {analytic:.6}, relative {rel:.1e}"
        );
        assert!(rel < 1e-2, "numeric {numeric} vs analytic {analytic}");
    }

    #[test]
    fn cross_entropy_matches_cpu() {
        let Some(gpu) = gpu() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let logits = random(&[7, 4], &mut rng) * 10.0;
        let targets: Vec<usize> = (0..7).map(|_| rng.random_range(0..4)).collect();
        let cpu = cross_entropy(
            logits.view().into_dimensionality::<Ix2>().unwrap(),
            &targets,
        )
        .unwrap();
        let device_logits = GpuTensor::upload(&gpu, logits.view()).unwrap();
        let (value, grad) = gpu_cross_entropy(&device_logits, &targets).unwrap();
        assert!(
            ((value - cpu.value) / cpu.value).abs() < 1e-5,
            "{value} vs {}",
            cpu.value
        );
        assert_close(
            &grad.download().unwrap(),
            &cpu.grad.into_dyn(),
            "cross-entropy gradient",
        );
        let err = gpu_cross_entropy(&device_logits, &[0, 1, 2, 3, 4, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("class 4"), "{err}");
    }

    #[test]
    fn optimiser_steps_match_cpu() {
        let Some(gpu) = gpu() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let shapes = [vec![13, 7], vec![7]];
        let start: Vec<ArrayD<f32>> = shapes.iter().map(|s| random(s, &mut rng)).collect();
        let grads: Vec<Vec<ArrayD<f32>>> = (0..3)
            .map(|_| shapes.iter().map(|s| random(s, &mut rng)).collect())
            .collect();
        let run_cpu = |opt: &mut dyn Optimizer<f32>| {
            let mut params = start.clone();
            for g in &grads {
                let mut views: Vec<_> = params.iter_mut().map(|p| p.view_mut()).collect();
                opt.step(&mut views, g);
            }
            params
        };
        let run_gpu = |mut opt: GpuOptimizer| {
            let mut params: Vec<GpuTensor> = start
                .iter()
                .map(|p| GpuTensor::upload(&gpu, p.view()).unwrap())
                .collect();
            for g in &grads {
                let g: Vec<GpuTensor> = g
                    .iter()
                    .map(|g| GpuTensor::upload(&gpu, g.view()).unwrap())
                    .collect();
                opt.step(&mut params, &g).unwrap();
            }
            params
                .iter()
                .map(|p| p.download().unwrap())
                .collect::<Vec<_>>()
        };
        let sgd = SgdConfig {
            lr: 0.1,
            momentum: 0.0,
        };
        let momentum = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
        };
        let rms = RmsPropConfig::default();
        let adam = AdamConfig::default();
        let cases = [
            (
                "sgd",
                run_cpu(&mut Sgd::new(sgd).unwrap()),
                run_gpu(GpuOptimizer::sgd(sgd).unwrap()),
            ),
            (
                "sgd momentum",
                run_cpu(&mut Sgd::new(momentum).unwrap()),
                run_gpu(GpuOptimizer::sgd(momentum).unwrap()),
            ),
            (
                "rmsprop",
                run_cpu(&mut RmsProp::new(rms, &shapes).unwrap()),
                run_gpu(GpuOptimizer::rmsprop(rms).unwrap()),
            ),
            (
                "adam",
                run_cpu(&mut Adam::new(adam).unwrap()),
                run_gpu(GpuOptimizer::adam(adam).unwrap()),
            ),
        ];
        for (name, cpu, device) in cases {
            for (i, (d, c)) in device.iter().zip(&cpu).enumerate() {
                assert_close(d, c, &format!("{name} parameter {i} after 3 steps"));
            }
        }
    }

    #[test]
    fn device_steps_and_host_writes_stay_in_sync() {
        let Some(gpu) = gpu() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = GpuNet::new(
            Box::new(Linear::new(3, 2, Init::XavierUniform, &mut rng)),
            &gpu,
        )
        .unwrap();
        let x = GpuTensor::upload(&gpu, random(&[4, 3], &mut rng).view()).unwrap();
        let (y, cache) = net.forward_device(&x).unwrap();
        let (_, grads) = net.backward_device(&cache, &y, false).unwrap();
        let before = net.params()[0].to_owned();
        let mut sgd = GpuOptimizer::sgd(SgdConfig {
            lr: 0.5,
            momentum: 0.0,
        })
        .unwrap();
        net.step(&mut sgd, &grads).unwrap();
        let g0 = grads[0].download().unwrap();
        assert_close(
            &net.params()[0].to_owned(),
            &(&before - &(&g0 * 0.5)),
            "host copy after a device step",
        );
        // A host write is used by the next pass.
        net.params_mut()[1].fill(3.0);
        let out = net
            .forward(ndarray::ArrayD::zeros(vec![1, 3]).view())
            .output;
        assert_eq!(out.iter().copied().collect::<Vec<_>>(), vec![3.0, 3.0]);
    }

    #[test]
    fn pool_reuses_released_buffers() {
        let Some(gpu) = gpu() else { return };
        let shape = [1234, 7];
        let bytes = 1234 * 7 * 4;
        drop(GpuTensor::zeros(&gpu, &shape).unwrap());
        let pooled = gpu.pooled_bytes();
        assert!(pooled >= bytes);
        let again = GpuTensor::zeros(&gpu, &shape).unwrap();
        assert_eq!(
            gpu.pooled_bytes(),
            pooled - bytes,
            "the released buffer was taken again"
        );
        let copy = again.to(&gpu).unwrap();
        assert_eq!(copy.download().unwrap(), again.download().unwrap());
    }

    #[test]
    fn placement_by_device() {
        let Some(_gpu) = gpu() else { return };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let module = Sequential::<f32>::default()
            .with(Linear::new(4, 3, Init::HeUniform, &mut rng))
            .with(Relu);
        let placed = place(Box::new(module), "cuda:0".parse::<Device>().unwrap()).unwrap();
        assert!(placed.name().starts_with("cuda:0["), "{}", placed.name());
        let count = pathnet_nn::cuda_devices().unwrap();
        let err = place(Box::new(Relu) as Box<dyn Layer<f32>>, Device::Cuda(count))
            .err()
            .unwrap();
        assert!(err.to_string().contains(&format!("cuda:{count}")), "{err}");
        let err = place(Box::new(Relu) as Box<dyn Layer<f64>>, Device::Cuda(0))
            .err()
            .unwrap();
        assert!(err.to_string().contains("f32"), "{err}");
    }

    /// A whole PathNet on the device, trained through the CPU code path (modules behind the
    /// layer interface, SGD on the host copies), ends where the CPU network ends.
    #[test]
    fn pathnet_on_the_device_trains_like_on_the_cpu() {
        use pathnet_nn::pathnet::build::{self, LinearModules};
        use pathnet_nn::pathnet::{Batch, ModuleOptimizers, PathNetDims, Pathway};
        let Some(_gpu) = gpu() else { return };
        let dims = PathNetDims::new(2, 4, 2).unwrap();
        let modules = LinearModules {
            inputs: 12,
            units: 6,
        };
        let mut cpu = build::linear::<f32>(dims, modules, &[3], 4).unwrap();
        let mut device = build::linear::<f32>(dims, modules, &[3], 4).unwrap();
        device.place(Device::Cuda(0)).unwrap();
        let pathway = Pathway::random(&dims, 4).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let inputs = random(&[8, 12], &mut rng);
        let labels: Vec<usize> = (0..8).map(|_| rng.random_range(0..3)).collect();
        let sgd = SgdConfig {
            lr: 0.1,
            momentum: 0.0,
        };
        let mut reports = Vec::new();
        for net in [&mut cpu, &mut device] {
            let mut optimizers = ModuleOptimizers::cloning(Sgd::new(sgd).unwrap());
            let batches = (0..3).map(|_| Batch {
                inputs: inputs.view(),
                labels: &labels,
            });
            reports.push(
                net.train_pathway(&pathway, 0, batches, &mut optimizers)
                    .unwrap(),
            );
        }
        assert_eq!(reports[0].misclassified, reports[1].misclassified);
        for id in cpu.module_ids().collect::<Vec<_>>() {
            for (i, (c, d)) in cpu
                .params(id)
                .unwrap()
                .iter()
                .zip(device.params(id).unwrap())
                .enumerate()
            {
                assert_close(
                    &d.to_owned(),
                    &c.to_owned(),
                    &format!("module {id:?} parameter {i}"),
                );
            }
        }
    }

    /// A Sideways network with every stage on the device, trained by the threaded pipeline
    /// (stages on several threads sharing the device), ends where the CPU network ends. A few
    /// steps compound the device's rounding, hence the looser bound.
    #[test]
    fn sideways_stages_on_the_device_train_like_on_the_cpu() {
        use pathnet_nn::sideways::{
            FramesVec, OptimizerSpec, SidewaysConfig, Stage, StageNet, ThreadedPipeline,
            UpdateSchedule,
        };
        let Some(_gpu) = gpu() else { return };
        let net = || {
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let conv = Conv2dSpec {
                in_channels: 2,
                out_channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
            };
            let stages = vec![
                Stage::new(
                    Sequential::<f32>::default()
                        .with(Conv2d::new(conv, Init::XavierNormal, &mut rng))
                        .with(Tanh),
                ),
                Stage::new(Sequential::default().with(Flatten).with(Linear::new(
                    48,
                    3,
                    Init::XavierNormal,
                    &mut rng,
                )))
                .with_skip(
                    2,
                    Sequential::default().with(Flatten).with(Linear::new(
                        32,
                        3,
                        Init::XavierNormal,
                        &mut rng,
                    )),
                ),
            ];
            StageNet::new(stages, &[2, 4, 4]).unwrap()
        };
        let mut device = net();
        device.place(Device::Cuda(0)).unwrap();
        assert!(
            device.stages()[1].skips()[0].adapter.layers()[0]
                .name()
                .starts_with("cuda:0["),
            "the adapter was placed too"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let clip = FramesVec((0..5).map(|_| random(&[2, 2, 4, 4], &mut rng)).collect());
        let sgd = OptimizerSpec::Sgd(SgdConfig {
            lr: 0.05,
            momentum: 0.0,
        });
        let config = SidewaysConfig {
            update: UpdateSchedule::PerClip,
            drain: true,
        };
        let mut params = Vec::new();
        for net in [net(), device] {
            let mut pipeline = ThreadedPipeline::new(net, &sgd, config).unwrap();
            pipeline
                .train_clip(&mut FramesVec(clip.0.clone()), &[0, 2])
                .unwrap();
            let net = pipeline.into_net().unwrap();
            let flat: Vec<ArrayD<f32>> = net
                .params()
                .into_iter()
                .flatten()
                .map(|p| p.to_owned())
                .collect();
            params.push(flat);
        }
        assert_eq!(params[0].len(), params[1].len());
        for (d, c) in params[1].iter().zip(&params[0]) {
            let scale = c.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
            let worst = d
                .iter()
                .zip(c)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst / scale <= 1e-4,
                "relative difference {}",
                worst / scale
            );
        }
    }
}
