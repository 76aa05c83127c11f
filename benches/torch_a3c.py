"""PyTorch (CPU, float32) A3C on a Gymnasium environment, the reference for our Rust A3C.

Mnih et al. 2016, asynchronous advantage actor-critic with Hogwild updates: `--workers`
processes (one worker each, one torch thread each) share one actor-critic and one RMSProp
state, and stop together once the mean undiscounted return over the last `--window` finished
episodes (counted over all workers) reaches `--target-return`, or the global env-step count
reaches `--max-env-steps`. Prints one JSON object (also written to `--json`): whether the
target was reached, wall time from the moment the workers start to the stop, env steps,
episodes and updates at the stop, and the configuration.

The algorithm and its constants are the ones the Rust side implements, so that the comparison
measures implementations rather than hyperparameters:
- network: obs -> [Linear(., H) -> relu|tanh] per hidden width -> policy logits Linear(H, A)
  and value Linear(H, 1); zero biases; hidden weights He-uniform (bound sqrt(6 / fan_in)) with
  relu, Glorot-uniform (gain 1) with tanh; value weights Glorot-uniform; policy weights
  Glorot-uniform times 0.01, so the first policy is close to uniform;
- rollout of up to `--t-max` steps sampling from softmax(logits), cut short by the episode's
  end; n-step returns R = r + gamma R from 0 after a termination, from V(final observation)
  after a time-limit truncation or a full rollout (Gymnasium semantics);
- loss summed over the rollout: -log pi(a|s) (R - V).detach() + value_coef 0.5 (R - V)^2
  - entropy_beta H(pi(.|s)); gradient clipped to a total norm of `--max-grad-norm`;
- shared RMSProp: avg = alpha avg + (1 - alpha) g^2; p -= lr g / sqrt(avg + eps), eps inside
  the square root; lr annealed linearly to 0 over `--max-env-steps` with `--lr-anneal`.

Processes start with the 'spawn' method: nothing is inherited from the parent but the
shared tensors and counters, so no OpenMP or allocator state is forked mid-flight. With one
worker a seed fixes the run; with several, the interleaving of Hogwild updates is the
scheduler's, as in the paper.
"""

import argparse
import json
import math
import threading
import time

import gymnasium
import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn


class ActorCritic(nn.Module):
    def __init__(self, inputs, hidden, actions, activation):
        super().__init__()
        widths = [inputs, *hidden]
        self.body = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.policy = nn.Linear(widths[-1], actions)
        self.value = nn.Linear(widths[-1], 1)
        self.activation = torch.relu if activation == "relu" else torch.tanh
        # The Rust network's initialisation (rl/src/policy/mod.rs).
        with torch.no_grad():
            for layer in self.body:
                if activation == "relu":
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(layer.weight)
            for layer in [self.policy, self.value]:
                nn.init.xavier_uniform_(layer.weight)
            self.policy.weight.mul_(0.01)
            for layer in [*self.body, self.policy, self.value]:
                layer.bias.zero_()

    def forward(self, x):
        for layer in self.body:
            x = self.activation(layer(x))
        return self.policy(x), self.value(x).squeeze(-1)


class SharedRMSProp:
    """RMSProp with its running averages in shared memory, applied Hogwild (no lock) by every
    worker. torch.optim.RMSprop adds eps outside the square root; the paper's form, which the
    Rust side uses, adds it inside."""

    def __init__(self, params, alpha, eps):
        self.params = list(params)
        self.square_avg = [torch.zeros_like(p).share_memory_() for p in self.params]
        self.alpha = alpha
        self.eps = eps

    @torch.no_grad()
    def step(self, grads, lr):
        for p, avg, g in zip(self.params, self.square_avg, grads):
            avg.mul_(self.alpha).addcmul_(g, g, value=1.0 - self.alpha)
            p.addcdiv_(g, avg.add(self.eps).sqrt_(), value=-lr)


class Progress:
    """Global counters shared by the workers. One lock guards them all, so the stop decision
    and the figures reported with it are a consistent snapshot."""

    def __init__(self, window):
        self.lock = mp.Lock()
        self.stop = mp.Event()
        self.steps = mp.Value("q", 0, lock=False)
        self.updates = mp.Value("q", 0, lock=False)
        self.episodes = mp.Value("q", 0, lock=False)
        self.returns = mp.Array("d", window, lock=False)
        # The snapshot taken by whichever worker decides to stop.
        self.reached = mp.Value("b", 0, lock=False)
        self.stop_steps = mp.Value("q", 0, lock=False)
        self.stop_episodes = mp.Value("q", 0, lock=False)
        self.stop_updates = mp.Value("q", 0, lock=False)
        self.stop_mean = mp.Value("d", float("nan"), lock=False)

    def _mean(self):
        n = min(self.episodes.value, len(self.returns))
        return sum(self.returns[:n]) / n if n else float("nan")

    def _halt(self, reached):
        if self.stop.is_set():
            return
        self.reached.value = int(reached)
        self.stop_steps.value = self.steps.value
        self.stop_episodes.value = self.episodes.value
        self.stop_updates.value = self.updates.value
        self.stop_mean.value = self._mean()
        self.stop.set()

    def add_step(self, max_steps):
        """Counts one env step; returns the global count including it."""
        with self.lock:
            self.steps.value += 1
            if self.steps.value >= max_steps:
                self._halt(reached=False)
            return self.steps.value

    def finish_episode(self, episode_return, target):
        with self.lock:
            window = len(self.returns)
            self.returns[self.episodes.value % window] = episode_return
            self.episodes.value += 1
            if self.episodes.value >= window and self._mean() >= target:
                self._halt(reached=True)

    def add_update(self):
        with self.lock:
            self.updates.value += 1

    def global_steps(self):
        with self.lock:
            return self.steps.value


def rollout_loss(local, observations, actions, rewards, last_obs, terminated, args):
    """The summed A3C loss of one rollout; `last_obs` is the observation after its last step."""
    x = torch.as_tensor(np.stack([*observations, last_obs]), dtype=torch.float32)
    logits, values = local(x)
    # The last value is the bootstrap: a constant target, never differentiated.
    ret = 0.0 if terminated else values[-1].item()
    logits, values = logits[:-1], values[:-1]
    returns = []
    for r in reversed(rewards):
        ret = r + args.gamma * ret
        returns.append(ret)
    returns = torch.tensor(returns[::-1], dtype=torch.float32)
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    chosen = log_probs.gather(1, torch.tensor(actions).unsqueeze(1)).squeeze(1)
    advantage = returns - values
    return (
        -(chosen * advantage.detach())
        + args.value_coef * 0.5 * advantage.pow(2)
        - args.entropy_beta * entropy
    ).sum()


def worker(rank, args, shared, optimiser, progress, barrier):
    try:
        train(rank, args, shared, optimiser, progress, barrier)
    except BaseException:
        # Releases the parent, whether it waits at the barrier or for the stop.
        barrier.abort()
        progress.stop.set()
        raise


def train(rank, args, shared, optimiser, progress, barrier):
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(args.seed + 1 + rank)
    env = gymnasium.make(args.env)
    obs, _ = env.reset(seed=args.seed + rank)
    local = ActorCritic(obs.shape[0], args.hidden, env.action_space.n, args.activation)
    local_params = list(local.parameters())
    shared_params = list(shared.parameters())
    episode_return = 0.0
    barrier.wait()
    while not progress.stop.is_set():
        with torch.no_grad():
            for lp, sp in zip(local_params, shared_params):
                lp.copy_(sp)
        observations, actions, rewards = [], [], []
        terminated = truncated = False
        for _ in range(args.t_max):
            with torch.no_grad():
                logits, _ = local(torch.as_tensor(obs, dtype=torch.float32))
            action = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            episode_return += float(reward)
            obs = next_obs
            progress.add_step(args.max_env_steps)
            if terminated or truncated:
                break
        if terminated or truncated:
            progress.finish_episode(episode_return, args.target_return)
        loss = rollout_loss(local, observations, actions, rewards, obs, terminated, args)
        if terminated or truncated:
            obs, _ = env.reset()
            episode_return = 0.0
        for p in local_params:
            p.grad = None
        loss.backward()
        nn.utils.clip_grad_norm_(local_params, args.max_grad_norm)
        lr = args.learning_rate
        if args.lr_anneal:
            lr *= max(0.0, 1.0 - progress.global_steps() / args.max_env_steps)
        optimiser.step([p.grad for p in local_params], lr)
        progress.add_update()
    env.close()


def hidden_widths(text):
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths, got {text!r}")
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"widths must be >= 1, got {text!r}")
    return widths


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Defaults are the settings of examples/a3c_cartpole.toml; it also anneals (--lr-anneal).
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--t-max", type=int, default=5)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--rmsprop-alpha", type=float, default=0.99)
    parser.add_argument("--rmsprop-eps", type=float, default=0.1)
    parser.add_argument("--entropy-beta", type=float, default=0.01)
    parser.add_argument("--value-coef", type=float, default=0.5)
    parser.add_argument("--max-grad-norm", type=float, default=40.0)
    parser.add_argument("--hidden", type=hidden_widths, default=[128], help="e.g. 128 or 64,64")
    parser.add_argument("--activation", choices=["relu", "tanh"], default="tanh")
    parser.add_argument("--target-return", type=float, default=475.0)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--max-env-steps", type=int, default=300_000)
    parser.add_argument(
        "--lr-anneal", action="store_true", help="anneal to 0 at --max-env-steps, as the paper does"
    )
    parser.add_argument("--json", metavar="OUT", help="also write the result to this file")
    args = parser.parse_args()
    # The same rules as our `[a3c]` schema, so neither side accepts what the other refuses.
    rules = [
        ("workers", lambda v: v >= 1, "at least 1"),
        ("t_max", lambda v: v >= 1, "at least 1"),
        ("window", lambda v: v >= 1, "at least 1"),
        ("max_env_steps", lambda v: v >= 1, "at least 1"),
        ("learning_rate", lambda v: v > 0.0, "positive"),
        ("gamma", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
        ("rmsprop_alpha", lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
        ("rmsprop_eps", lambda v: v > 0.0, "positive"),
        ("entropy_beta", lambda v: v >= 0.0, "at least 0"),
        ("value_coef", lambda v: v >= 0.0, "at least 0"),
        ("max_grad_norm", lambda v: v > 0.0, "positive"),
        ("target_return", lambda v: True, "finite"),
    ]
    for name, ok, what in rules:
        value = getattr(args, name)
        if not (math.isfinite(value) and ok(value)):
            parser.error(f"--{name.replace('_', '-')} must be {what}, got {value}")
    return parser, args


def main():
    parser, args = parse_args()
    mp.set_start_method("spawn")
    probe = gymnasium.make(args.env)
    if not isinstance(probe.action_space, gymnasium.spaces.Discrete):
        parser.error(f"--env {args.env}: needs a discrete action space, has {probe.action_space}")
    if len(probe.observation_space.shape) != 1:
        parser.error(f"--env {args.env}: needs flat observations, has {probe.observation_space}")
    inputs, actions = probe.observation_space.shape[0], int(probe.action_space.n)
    probe.close()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    shared = ActorCritic(inputs, args.hidden, actions, args.activation).share_memory()
    optimiser = SharedRMSProp(shared.parameters(), args.rmsprop_alpha, args.rmsprop_eps)
    progress = Progress(args.window)
    # The barrier lets the clock start once every worker has imported torch and built its env.
    barrier = mp.Barrier(args.workers + 1)
    procs = [
        mp.Process(target=worker, args=(rank, args, shared, optimiser, progress, barrier))
        for rank in range(args.workers)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait()
        start = time.perf_counter()
        # A worker killed by a signal cannot set the stop event, so exits are watched too.
        while not progress.stop.wait(timeout=0.5):
            if any(p.exitcode not in (None, 0) for p in procs):
                progress.stop.set()
        wall_s = time.perf_counter() - start
    except threading.BrokenBarrierError:
        pass
    for p in procs:
        p.join()
    failed = [(rank, p.exitcode) for rank, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise SystemExit(f"worker {failed[0][0]} exited with code {failed[0][1]}")

    mean = progress.stop_mean.value
    result = {
        "reached": bool(progress.reached.value),
        "wall_s": wall_s,
        "env_steps": progress.stop_steps.value,
        "episodes": progress.stop_episodes.value,
        "updates": progress.stop_updates.value,
        # No finished episode leaves no mean; NaN is not JSON.
        "final_mean_return": None if mean != mean else mean,
        "steps_per_s": progress.stop_steps.value / wall_s,
        "torch_version": torch.__version__,
        "gymnasium_version": gymnasium.__version__,
        "start_method": "spawn",
        "torch_threads_per_worker": 1,
        "config": {k: v for k, v in vars(args).items() if k != "json"},
    }
    text = json.dumps(result)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
