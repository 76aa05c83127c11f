//! The dashboard's event stream over real HTTP on 127.0.0.1, fed by a progress broadcast
//! the test drives: the wire format, a snapshot then every later generation exactly once, a
//! page that stops reading being disconnected while the others and the feed go on, and the
//! limit on pages open at once.

use axum::Router;
use pathnet_coordinator::dashboard::{Dashboard, DashboardConfig, Status};
use pathnet_coordinator::run::{FitnessEvent, Progress};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::broadcast;
use tokio::time::timeout;

const BOUND: Duration = Duration::from_secs(20);

type Events = broadcast::Sender<(String, Progress)>;

async fn serve(config: DashboardConfig) -> (Dashboard, Events, SocketAddr) {
    let (events, _) = broadcast::channel(1 << 16);
    let status = || Status {
        agents_connected: 3,
        ..Status::default()
    };
    let dashboard = Dashboard::spawn(events.subscribe(), status, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app: Router = dashboard.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (dashboard, events, addr)
}

/// One server-sent event: its name, its data (parsed) and its retry field.
#[derive(Debug)]
struct Sse {
    event: String,
    data: Value,
    retry: Option<u64>,
}

/// A client reading the stream as a browser does, over HTTP/1.0 so the body is the bare
/// stream (no chunk framing) ending when the server closes it.
struct Client {
    reader: BufReader<TcpStream>,
    headers: String,
}

impl Client {
    async fn open(addr: SocketAddr, receive_buffer: Option<u32>) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).unwrap();
        }
        let mut stream = socket.connect(addr).await.unwrap();
        stream
            .write_all(b"GET /events HTTP/1.0\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut headers = String::new();
        loop {
            let mut line = String::new();
            timeout(BOUND, reader.read_line(&mut line))
                .await
                .expect("headers in time")
                .unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            headers.push_str(&line);
        }
        Client { reader, headers }
    }

    /// The next event; `None` once the server closed the stream. Keep-alive comments are
    /// skipped.
    async fn next(&mut self) -> Option<Sse> {
        let (mut event, mut data, mut retry) = (None, String::new(), None);
        loop {
            let mut line = String::new();
            let read = timeout(BOUND, self.reader.read_line(&mut line))
                .await
                .expect("an event in time")
                .unwrap();
            if read == 0 {
                return None;
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if let Some(event) = event.take() {
                    let data = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("data of `{event}` is not JSON ({e}): {data}"));
                    return Some(Sse { event, data, retry });
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_owned()),
                "data" => data.push_str(value),
                "retry" => retry = Some(value.parse().unwrap()),
                "" => {}
                other => panic!("unexpected field `{other}` in the stream"),
            }
        }
    }

    /// The next event other than a status sample.
    async fn next_change(&mut self) -> Option<Sse> {
        loop {
            match self.next().await {
                Some(e) if e.event == "status" => continue,
                other => return other,
            }
        }
    }
}

fn started(task: usize, name: &str) -> Progress {
    Progress::TaskStarted {
        task,
        name: name.into(),
        max_generations: 1000,
    }
}

fn evaluation(generation: usize) -> Progress {
    Progress::Evaluation(FitnessEvent {
        task: 0,
        generation,
        evaluations: 2 * generation as u64 + 1,
        fitness: -0.5,
        training_accuracy: 0.5,
        best_fitness: -1.0 / (generation as f64 + 2.0),
        mean_fitness: -0.5,
    })
}

fn quiet() -> DashboardConfig {
    DashboardConfig {
        // No status sample gets in the way unless a test asks for one.
        status_interval: Duration::from_secs(3600),
        ..DashboardConfig::default()
    }
}

#[tokio::test]
async fn a_page_gets_the_history_so_far_then_every_later_event_once() {
    let (_dashboard, events, addr) = serve(quiet()).await;
    events.send(("fashion-1".into(), started(0, "A"))).unwrap();
    for generation in 0..50 {
        events
            .send(("fashion-1".into(), evaluation(generation)))
            .unwrap();
    }
    let mut page = Client::open(addr, None).await;
    assert!(page.headers.starts_with("HTTP/1.0 200") || page.headers.starts_with("HTTP/1.1 200"));
    assert!(
        page.headers
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{}",
        page.headers
    );
    let snapshot = page.next().await.expect("a snapshot");
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.retry, Some(2000));
    assert_eq!(snapshot.data["status"]["agents_connected"], 3);
    // The feed runs on its own task: the snapshot holds however much of the history it had
    // taken in, and the stream must then carry exactly the rest.
    let mut generations: Vec<u64> = Vec::new();
    if snapshot.data["experiment"] == "fashion-1" {
        let series = snapshot.data["series"].as_array().unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0]["name"], "A");
        assert_eq!(series[0]["max_generations"], 1000);
        for point in series[0]["points"].as_array().unwrap() {
            let point = point.as_array().unwrap();
            assert_eq!(point.len(), 5, "{point:?}");
            generations.push(point[0].as_u64().unwrap());
        }
    }
    for generation in 50..100 {
        // Two results a generation: a page gets the generation once, when it is over.
        for _ in 0..2 {
            events
                .send(("fashion-1".into(), evaluation(generation)))
                .unwrap();
        }
    }
    events
        .send(("fashion-1".into(), Progress::Finished))
        .unwrap();
    while generations.last() != Some(&99) {
        let event = page.next_change().await.expect("the stream stays open");
        match event.event.as_str() {
            "point" => {
                let point = event.data["point"].as_array().unwrap();
                assert_eq!(point[1].as_u64(), Some(2 * point[0].as_u64().unwrap() + 1));
                let generation = point[0].as_u64().unwrap();
                // The snapshot's last generation was still open: it comes again, final.
                if generations.last() == Some(&generation) {
                    generations.pop();
                }
                generations.push(generation);
            }
            "reset" | "series" => assert!(generations.is_empty(), "{event:?}"),
            other => panic!("unexpected event `{other}`"),
        }
    }
    assert_eq!(generations, (0..100).collect::<Vec<u64>>());
}

#[tokio::test]
async fn status_is_sampled_while_a_page_watches_and_a_new_experiment_resets() {
    let config = DashboardConfig {
        status_interval: Duration::from_millis(20),
        ..DashboardConfig::default()
    };
    let (_dashboard, events, addr) = serve(config).await;
    let mut page = Client::open(addr, None).await;
    assert_eq!(page.next().await.unwrap().event, "snapshot");
    let status = loop {
        let event = page.next().await.unwrap();
        if event.event == "status" {
            break event;
        }
    };
    assert_eq!(status.data["agents_connected"], 3);
    events.send(("ga-1".into(), evaluation(0))).unwrap();
    events.send(("ga-2".into(), evaluation(0))).unwrap();
    let mut resets = Vec::new();
    while resets.len() < 2 {
        let event = page.next_change().await.unwrap();
        if event.event == "reset" {
            resets.push(event.data["experiment"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(resets, ["ga-1", "ga-2"]);
}

#[tokio::test]
async fn a_page_that_stops_reading_is_dropped_and_the_others_get_everything() {
    let config = DashboardConfig {
        client_buffer: 8,
        ..quiet()
    };
    let (_dashboard, events, addr) = serve(config).await;
    // A page that never reads, with the smallest receive window the kernel allows.
    let mut stalled = Client::open(addr, Some(4096)).await;
    assert_eq!(stalled.next().await.unwrap().event, "snapshot");
    let mut reader = Client::open(addr, None).await;
    assert_eq!(reader.next().await.unwrap().event, "snapshot");
    // Big events fill the stalled page's socket buffers quickly: 2000 x 16 KiB is 32 MiB,
    // several times what the kernel buffers on loopback.
    let name = "x".repeat(16 << 10);
    let total = 2000;
    for sent in 0..total {
        let steps = Progress::Steps {
            task: 0,
            name: name.clone(),
            env_steps: sent,
            max_env_steps: total,
            mean_return: None,
        };
        events.send(("a3c-1".into(), steps)).unwrap();
        // The reading page keeps pace: each event is read before the next is sent, so only
        // the stalled one can fall behind.
        loop {
            let event = reader.next_change().await.expect("the reading page stays");
            if event.event == "series" {
                assert_eq!(event.data["env_steps"][0], sent);
                break;
            }
        }
    }
    // The stalled page was cut off: reading it now ends well before the last event.
    let mut seen = 0u64;
    let drained = timeout(BOUND, async {
        while let Some(event) = stalled.next().await {
            if event.event == "series" {
                seen += 1;
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stalled page's stream never ended");
    assert!(
        seen < total,
        "the stalled page got all {seen} events: nothing was dropped"
    );
}

#[tokio::test]
async fn a_shutdown_ends_open_streams_after_a_last_status_and_refuses_new_ones() {
    let (dashboard, events, addr) = serve(quiet()).await;
    let mut page = Client::open(addr, None).await;
    assert_eq!(page.next().await.unwrap().event, "snapshot");
    // Progress broadcast just before the shutdown still reaches the page, then how things
    // stood last, then the end of the stream.
    events.send(("fashion-1".into(), evaluation(0))).unwrap();
    events
        .send(("fashion-1".into(), Progress::Finished))
        .unwrap();
    dashboard.shutdown().await;
    let mut seen = Vec::new();
    while let Some(event) = page.next().await {
        seen.push(event.event);
    }
    assert!(seen.iter().any(|e| e == "point"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("status"), "{seen:?}");
    let mut refused = TcpStream::connect(addr).await.unwrap();
    refused
        .write_all(b"GET /events HTTP/1.0\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    timeout(BOUND, refused.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.0 503"), "{answer}");
}

#[tokio::test]
async fn the_page_is_served_whole_and_fetches_nothing_from_elsewhere() {
    let (_dashboard, _events, addr) = serve(quiet()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    timeout(BOUND, stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8")
    );
    assert!(
        body.contains("new EventSource(\"events\")"),
        "the page reads the stream relatively"
    );
    for external in [
        "<script src",
        "<link",
        "url(http",
        "@import",
        "fetch(",
        "https://",
    ] {
        assert!(!body.contains(external), "the page refers to `{external}`");
    }
}

#[tokio::test]
async fn pages_over_the_limit_are_refused_and_a_closed_page_frees_its_place_at_once() {
    let config = DashboardConfig {
        max_clients: 2,
        ..quiet()
    };
    let (_dashboard, events, addr) = serve(config).await;
    let mut first = Client::open(addr, None).await;
    assert_eq!(first.next().await.unwrap().event, "snapshot");
    let mut second = Client::open(addr, None).await;
    assert_eq!(second.next().await.unwrap().event, "snapshot");
    let third = Client::open(addr, None).await;
    assert!(third.headers.contains(" 503 "), "{}", third.headers);
    // One page goes away while nothing is sent (a quiet coordinator): a reload must get in.
    drop(first);
    let reloaded = timeout(BOUND, async {
        loop {
            let mut page = Client::open(addr, None).await;
            if page.headers.contains(" 200 ") {
                break page.next().await.unwrap().event;
            }
            // The server notices the closed connection on its own time; ask again.
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the closed page's place freed");
    assert_eq!(reloaded, "snapshot");
    // The page that stayed still gets everything.
    events.send(("fashion-1".into(), started(0, "A"))).unwrap();
    assert_eq!(second.next_change().await.unwrap().event, "reset");
}
