//! The bridge's wire format: requests encoded and replies decoded, with no I/O. The layout is
//! documented once, at the top of `envs/python/gymnasium_bridge.py`; this is its Rust half.
//! Every decoding failure is a `Malformed` reason, never a panic.

use crate::env::{Info, Options};
use serde::Deserialize;
use serde_json::Value;

/// Why a reply could not be read (the process is then no longer trusted).
pub(super) type Malformed = String;

/// Starts a frame in `buf` (emptied first): a length placeholder and the request code.
fn begin(buf: &mut Vec<u8>, code: u8) {
    buf.clear();
    buf.extend_from_slice(&[0, 0, 0, 0, code]);
}

/// Writes the payload length into the placeholder.
fn finish(buf: &mut [u8]) {
    let len = u32::try_from(buf.len() - 4).expect("requests are far below 4 GiB");
    buf[..4].copy_from_slice(&len.to_le_bytes());
}

pub(super) fn make_request(buf: &mut Vec<u8>, id: &str, kwargs: &serde_json::Map<String, Value>) {
    begin(buf, b'M');
    let request = serde_json::json!({ "id": id, "kwargs": kwargs });
    buf.extend_from_slice(request.to_string().as_bytes());
    finish(buf);
}

pub(super) fn reset_request(buf: &mut Vec<u8>, seed: Option<u64>, options: Option<&Options>) {
    begin(buf, b'R');
    buf.push(u8::from(seed.is_some()));
    buf.extend_from_slice(&seed.unwrap_or(0).to_le_bytes());
    if let Some(options) = options {
        buf.extend_from_slice(Value::Object(options.clone()).to_string().as_bytes());
    }
    finish(buf);
}

pub(super) fn discrete_step_request(buf: &mut Vec<u8>, action: i64) {
    begin(buf, b'S');
    buf.push(0);
    buf.extend_from_slice(&action.to_le_bytes());
    finish(buf);
}

pub(super) fn continuous_step_request(buf: &mut Vec<u8>, action: &[f32]) {
    begin(buf, b'S');
    buf.push(1);
    action
        .iter()
        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
    finish(buf);
}

pub(super) fn set_state_request(buf: &mut Vec<u8>, state: &[f64]) {
    begin(buf, b'T');
    state
        .iter()
        .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
    finish(buf);
}

pub(super) fn close_request(buf: &mut Vec<u8>) {
    begin(buf, b'C');
    finish(buf);
}

/// The first byte of a reply.
#[derive(Debug, PartialEq)]
pub(super) enum Status<'a> {
    Ok(&'a [u8]),
    /// A Python exception, with its traceback; the environment is still usable.
    Raised(String),
    /// The environment cannot do what was asked.
    Unsupported(String),
}

pub(super) fn status(frame: &[u8]) -> Result<Status<'_>, Malformed> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    match frame.split_first() {
        Some((b'O', rest)) => Ok(Status::Ok(rest)),
        Some((b'E', rest)) => Ok(Status::Raised(text(rest))),
        Some((b'U', rest)) => Ok(Status::Unsupported(text(rest))),
        Some((code, _)) => Err(format!("unknown reply code {code:#04x}")),
        None => Err("empty reply".to_string()),
    }
}

/// What `gymnasium.make` built, as the Python side describes it.
#[derive(Debug, Deserialize)]
pub(super) struct Description {
    pub gymnasium: String,
    pub max_episode_steps: Option<u64>,
    pub observation: ObservationDescription,
    pub action: ActionDescription,
}

/// The observation space as a float32 box (the Python side maps the other spaces to one).
#[derive(Debug, Deserialize)]
pub(super) struct ObservationDescription {
    pub shape: Vec<usize>,
    pub low: String,
    pub high: String,
    /// Gymnasium's own repr of the space, for messages.
    pub repr: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub(super) enum ActionDescription {
    Discrete {
        n: u64,
        start: i64,
    },
    Box {
        shape: Vec<usize>,
        low: String,
        high: String,
    },
}

pub(super) fn description(payload: &[u8]) -> Result<Description, Malformed> {
    serde_json::from_slice(payload).map_err(|e| format!("bad space description: {e}"))
}

/// Decodes hex-encoded little-endian float32 values.
pub(super) fn hex_f32(hex: &str, what: &str) -> Result<Vec<f32>, Malformed> {
    let bad = || format!("{what}: not hex-encoded float32 values");
    if !hex.len().is_multiple_of(8) {
        return Err(bad());
    }
    hex.as_bytes()
        .chunks_exact(8)
        .map(|chunk| {
            let mut bytes = [0u8; 4];
            for (byte, pair) in bytes.iter_mut().zip(chunk.chunks_exact(2)) {
                let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
                *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
            }
            Ok(f32::from_le_bytes(bytes))
        })
        .collect()
}

/// Splits `n` bytes off the front of `bytes`.
fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], Malformed> {
    if bytes.len() < n {
        return Err(format!(
            "reply ends inside {what} ({} bytes left, {n} needed)",
            bytes.len()
        ));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn array<const N: usize>(bytes: &mut &[u8], what: &str) -> Result<[u8; N], Malformed> {
    let head = take(bytes, N, what)?;
    Ok(head.try_into().expect("take returned N bytes"))
}

/// Reads an observation into `obs` (as f32), which must come out with `expected` values.
fn observation(bytes: &mut &[u8], obs: &mut Vec<f32>, expected: usize) -> Result<(), Malformed> {
    let [dtype] = array::<1>(bytes, "the observation's dtype")?;
    let count = u32::from_le_bytes(array(bytes, "the observation's length")?) as usize;
    if count != expected {
        return Err(format!(
            "observation has {count} values, the observation space has {expected}"
        ));
    }
    obs.clear();
    match dtype {
        0 => obs.extend(
            take(bytes, count, "the observation")?
                .iter()
                .map(|&b| f32::from(b)),
        ),
        1 => obs.extend(
            take(bytes, count * 4, "the observation")?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4"))),
        ),
        // f64 -> f32 rounds to nearest, as numpy's astype(float32) does.
        2 => obs.extend(
            take(bytes, count * 8, "the observation")?
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")) as f32),
        ),
        other => return Err(format!("unknown observation dtype code {other}")),
    }
    Ok(())
}

/// The rest of a reply: the info dict's scalars (none for an empty dict). They are binary
/// rather than JSON because serde_json's default float parsing can be one ulp off.
fn info(mut bytes: &[u8]) -> Result<Info, Malformed> {
    let mut info = Info::new();
    while !bytes.is_empty() {
        let len = u16::from_le_bytes(array(&mut bytes, "an info key's length")?);
        let key = take(&mut bytes, usize::from(len), "an info key")?;
        let key = std::str::from_utf8(key).map_err(|_| "an info key is not UTF-8".to_string())?;
        let [kind] = array::<1>(&mut bytes, "an info value's kind")?;
        let raw = array::<8>(&mut bytes, "an info value")?;
        let value = match kind {
            0 => Value::Bool(i64::from_le_bytes(raw) != 0),
            1 => Value::from(i64::from_le_bytes(raw)),
            2 => serde_json::Number::from_f64(f64::from_le_bytes(raw))
                .map(Value::Number)
                .ok_or_else(|| format!("info {key:?} is not a finite number"))?,
            other => return Err(format!("info {key:?} has unknown kind {other}")),
        };
        info.insert(key.to_string(), value);
    }
    Ok(info)
}

/// A reset reply: fills `obs`, returns the info.
pub(super) fn reset_reply(
    mut payload: &[u8],
    obs: &mut Vec<f32>,
    expected: usize,
) -> Result<Info, Malformed> {
    observation(&mut payload, obs, expected)?;
    info(payload)
}

/// What a step reply says besides the observation.
#[derive(Debug, PartialEq)]
pub(super) struct StepReply {
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
    pub info: Info,
}

/// A step reply: fills `obs`, returns the rest.
pub(super) fn step_reply(
    mut payload: &[u8],
    obs: &mut Vec<f32>,
    expected: usize,
) -> Result<StepReply, Malformed> {
    let reward = f64::from_le_bytes(array(&mut payload, "the reward")?);
    let flag = |b: u8, what: &str| match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("{what} flag is {other}, not 0 or 1")),
    };
    let [terminated] = array::<1>(&mut payload, "the terminated flag")?;
    let [truncated] = array::<1>(&mut payload, "the truncated flag")?;
    let terminated = flag(terminated, "terminated")?;
    let truncated = flag(truncated, "truncated")?;
    observation(&mut payload, obs, expected)?;
    Ok(StepReply {
        reward,
        terminated,
        truncated,
        info: info(payload)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_payload(obs_code: u8, count: u32, values: &[u8], info: &[u8]) -> Vec<u8> {
        let mut p = 1.5f64.to_le_bytes().to_vec();
        p.extend_from_slice(&[1, 0, obs_code]);
        p.extend_from_slice(&count.to_le_bytes());
        p.extend_from_slice(values);
        p.extend_from_slice(info);
        p
    }

    fn info_entry(key: &str, kind: u8, value: &[u8; 8]) -> Vec<u8> {
        let mut e = u16::try_from(key.len()).unwrap().to_le_bytes().to_vec();
        e.extend_from_slice(key.as_bytes());
        e.push(kind);
        e.extend_from_slice(value);
        e
    }

    #[test]
    fn requests_carry_their_length() {
        let mut buf = Vec::new();
        continuous_step_request(&mut buf, &[1.0, -2.0]);
        assert_eq!(buf.len(), 4 + 2 + 8);
        assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), 10);
        assert_eq!(&buf[4..6], &[b'S', 1]);
        reset_request(&mut buf, Some(7), None);
        assert_eq!(buf.len(), 4 + 1 + 9);
        assert_eq!(&buf[5..7], &[1, 7]);
    }

    #[test]
    fn step_reply_decodes_each_dtype_and_info_kind() {
        let mut obs = Vec::new();
        let r = step_reply(&step_payload(0, 2, &[0, 255], b""), &mut obs, 2).unwrap();
        assert_eq!(obs, [0.0, 255.0]);
        assert_eq!((r.reward, r.terminated, r.truncated), (1.5, true, false));
        assert!(r.info.is_empty());
        let f32s: Vec<u8> = [0.25f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        step_reply(&step_payload(1, 2, &f32s, b""), &mut obs, 2).unwrap();
        assert_eq!(obs, [0.25, -1.0]);
        let info = [
            info_entry("lives", 1, &3i64.to_le_bytes()),
            info_entry("x", 2, &0.1f64.to_le_bytes()),
            info_entry("done", 0, &1i64.to_le_bytes()),
        ]
        .concat();
        let r = step_reply(
            &step_payload(2, 1, &0.1f64.to_le_bytes(), &info),
            &mut obs,
            1,
        )
        .unwrap();
        assert_eq!(obs, [0.1f64 as f32]);
        assert_eq!(r.info["lives"], 3);
        assert_eq!(r.info["x"].as_f64(), Some(0.1));
        assert_eq!(r.info["done"], true);
    }

    fn fails(payload: &[u8], expected: usize, message: &str) {
        let err = step_reply(payload, &mut Vec::new(), expected).unwrap_err();
        assert!(err.contains(message), "{err:?} lacks {message:?}");
    }

    #[test]
    fn malformed_replies_are_errors() {
        fails(&[0; 5], 1, "ends inside the reward");
        fails(
            &step_payload(0, 3, &[1, 2], b""),
            3,
            "ends inside the observation",
        );
        fails(&step_payload(0, 2, &[1, 2], b""), 3, "has 2 values");
        fails(&step_payload(9, 1, &[1], b""), 1, "dtype code 9");
        let mut bad_flag = step_payload(0, 1, &[1], b"");
        bad_flag[8] = 2;
        fails(&bad_flag, 1, "terminated flag is 2");
        let nan = info_entry("x", 2, &f64::NAN.to_le_bytes());
        fails(
            &step_payload(0, 1, &[1], b"\x05\x00ab"),
            1,
            "ends inside an info key",
        );
        fails(
            &step_payload(0, 1, &[1], &nan[..6]),
            1,
            "ends inside an info value",
        );
        fails(&step_payload(0, 1, &[1], &nan), 1, "not a finite number");
        let odd = info_entry("k", 7, &[0; 8]);
        fails(&step_payload(0, 1, &[1], &odd), 1, "unknown kind 7");
        assert!(status(b"").is_err());
        assert!(status(b"Zx").unwrap_err().contains("0x5a"));
        assert_eq!(status(b"Etrace\n").unwrap(), Status::Raised("trace".into()));
    }

    #[test]
    fn hex_bounds_round_trip_and_reject_garbage() {
        let hex: String = [f32::NEG_INFINITY, 255.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex_f32(&hex, "low").unwrap(), [f32::NEG_INFINITY, 255.0]);
        assert!(hex_f32("0000803", "low").is_err());
        assert!(hex_f32("zz00803f", "low").is_err());
        assert!(hex_f32("é000000", "low").is_err());
    }
}
