//! What the machine was and what the processes cost: CPU model, load average, CPU seconds
//! from `/proc/<pid>/stat` and resident memory from `/proc/<pid>/status`.
//!
//! A process's own time (`utime + stime`) is readable while it runs, which is how the
//! coordinator's CPU is sampled around a push phase. A finished child's time is added to its
//! parent's `cutime + cstime` when the parent reaps it, which is how a whole run (the `pathnet`
//! process with its agents, or Python with its workers) is costed.

use anyhow::{Context, Result};
use serde::Serialize;

/// Linux reports process times in USER_HZ ticks, 100 per second on every architecture this
/// workspace targets.
const TICKS_PER_SECOND: f64 = 100.0;

/// The machine a benchmark ran on and how loaded it was, recorded with every result.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// The CPU's model name from `/proc/cpuinfo`; `None` where it is not readable.
    pub cpu: Option<String>,
    /// Threads this process may run in parallel (1 where unknown).
    pub cores: usize,
    /// 1, 5 and 15 minute load averages.
    pub load_average: Option<[f64; 3]>,
    /// When it was recorded, in seconds since the Unix epoch.
    pub unix_time_s: u64,
}

impl Machine {
    /// The machine as it is now.
    pub fn now() -> Self {
        Machine {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average: load_average(),
            unix_time_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, m)| m.trim().to_owned())
    })
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg`; `None` where it is not readable.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

/// CPU seconds from one `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// The process itself, all threads.
    pub own_s: f64,
    /// Its reaped children.
    pub children_s: f64,
}

/// Times of `pid`, or of this process for `None`.
pub fn cpu_times(pid: Option<u32>) -> Result<CpuTimes> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&stat).with_context(|| format!("unexpected {path}: {stat}"))
}

/// Resident memory of process `pid` in bytes: `VmRSS` of `/proc/<pid>/status`.
pub fn resident_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no `VmRSS` in {path}"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

fn parse_stat(stat: &str) -> Option<CpuTimes> {
    // The command name (field 2) may contain spaces and parentheses; the fields after the
    // last `)` start at field 3 (state); utime, stime, cutime, cstime are fields 14 to 17.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Option<f64> { fields.get(i)?.parse::<f64>().ok() };
    Some(CpuTimes {
        own_s: (tick(11)? + tick(12)?) / TICKS_PER_SECOND,
        children_s: (tick(13)? + tick(14)?) / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_parentheses() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1 2 3 4 11 12 250 75 20 0 1 0";
        assert_eq!(
            parse_stat(stat),
            Some(CpuTimes {
                own_s: 0.23,
                children_s: 3.25
            })
        );
        assert_eq!(parse_stat("4242 (a) S 1 2"), None);
    }

    #[test]
    fn resident_memory_from_status() {
        let status = "Name:\tpathnet\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(resident_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn reaping_a_child_adds_its_cpu_time() {
        let before = cpu_times(None).unwrap().children_s;
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(cpu_times(None).unwrap().children_s > before);
    }
}
