//! The dashboard's fan-out: one task reads the progress broadcast into the [`History`] and
//! forwards each change, serialised once, to every connected page through a bounded queue
//! of its own; the routes serve the page and the event stream.

use super::history::{Change, History, Series};
use super::status::Status;
use crate::run::Progress;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

const PAGE: &str = include_str!("page.html");

/// How long a browser waits before reconnecting after the stream ends.
const RECONNECT: Duration = Duration::from_secs(2);

/// Limits of the dashboard; the defaults suit any run.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Messages queued for one page before it counts as fallen behind and is disconnected.
    pub client_buffer: usize,
    /// Pages watching at once; more are answered 503.
    pub max_clients: usize,
    /// How often the status is sampled while a page watches.
    pub status_interval: Duration,
    /// Points kept per curve for the snapshot (see `History`).
    pub max_points: usize,
    /// Curves kept for the snapshot.
    pub max_series: usize,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            client_buffer: 1024,
            max_clients: 32,
            status_interval: Duration::from_secs(1),
            max_points: 1000,
            max_series: 32,
        }
    }
}

/// One server-sent event, its data serialised once for every client.
#[derive(Debug, Clone)]
struct Message {
    event: &'static str,
    data: Arc<str>,
}

type StatusSource = Arc<dyn Fn() -> Status + Send + Sync>;

struct Clients {
    history: History,
    queues: Vec<mpsc::Sender<Message>>,
    closed: bool,
}

struct Inner {
    status: StatusSource,
    config: DashboardConfig,
    clients: Mutex<Clients>,
}

/// A running dashboard: its routes go on the metrics server.
pub struct Dashboard {
    inner: Arc<Inner>,
    feeder: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Dashboard {
    /// Starts following `events` (every experiment's progress, as broadcast by the
    /// coordinator); `status()` is sampled for the pages. Must run inside a Tokio runtime.
    pub fn spawn(
        events: broadcast::Receiver<(String, Progress)>,
        status: impl Fn() -> Status + Send + Sync + 'static,
        config: DashboardConfig,
    ) -> Dashboard {
        let inner = Arc::new(Inner {
            status: Arc::new(status),
            clients: Mutex::new(Clients {
                history: History::new(config.max_points, config.max_series),
                queues: Vec::new(),
                closed: false,
            }),
            config,
        });
        let (stop, stopped) = oneshot::channel();
        let feeder = tokio::spawn(feed(Arc::clone(&inner), events, stopped));
        Dashboard {
            inner,
            feeder: Some(feeder),
            stop: Some(stop),
        }
    }

    /// `GET /` (the page) and `GET /events` (its event stream).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/events", get(events))
            .with_state(Arc::clone(&self.inner))
    }

    /// Forwards the progress already broadcast and a last status (a page then shows how
    /// the experiment ended), then ends every page's stream: an HTTP server waits for
    /// open streams before it stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(feeder) = self.feeder.take() {
            // The feeder only ends by returning; a panic inside it is already reported.
            let _ = feeder.await;
        }
        self.inner.close();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(feeder) = &self.feeder {
            feeder.abort();
        }
        self.inner.close();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every stream (each page still gets what is queued for it) and takes no more.
    fn close(&self) {
        let mut clients = self.lock();
        clients.closed = true;
        clients.queues.clear();
    }

    /// A queue for a new page, holding the snapshot first; `None` when closed or full.
    fn connect(&self) -> Option<mpsc::Receiver<Message>> {
        // Sampled before the history is locked: the coordinator's lock is never taken
        // under the dashboard's.
        let status = (self.status)();
        let mut clients = self.lock();
        // Pages closed since the last event still hold a queue: they must not count, or a
        // reload on a quiet coordinator is refused (and a refused EventSource gives up).
        clients.queues.retain(|queue| !queue.is_closed());
        if clients.closed || clients.queues.len() >= self.config.max_clients {
            return None;
        }
        let (tx, rx) = mpsc::channel(self.config.client_buffer.max(1));
        // The queue is new and has room: the snapshot always goes first.
        let _ = tx.try_send(snapshot(&clients.history, &status));
        clients.queues.push(tx);
        Some(rx)
    }

    fn publish_status(&self) {
        if self.lock().queues.is_empty() {
            return;
        }
        let status = message("status", &(self.status)());
        send(&mut self.lock(), &status);
    }

    fn apply(&self, experiment: &str, event: &Progress) {
        let mut clients = self.lock();
        let changes = clients.history.apply(experiment, event, unix_now_ms());
        let mut ended = false;
        for change in changes {
            let message = match change {
                Change::Reset => {
                    // Pages clear what they show; the new experiment's events follow.
                    let reset = Reset {
                        experiment: clients.history.experiment(),
                    };
                    message("reset", &reset)
                }
                Change::Series(id) => match clients.history.get(id) {
                    Some(series) => message("series", &Header::of(series)),
                    None => continue,
                },
                Change::Point(series, point) => message("point", &PointMessage { series, point }),
                Change::Finished => {
                    ended = true;
                    continue;
                }
            };
            send(&mut clients, &message);
        }
        let phase_changed = matches!(
            event,
            Progress::TaskStarted { .. } | Progress::TaskFinished(_)
        );
        drop(clients);
        // A new state is shown at once, not at the next sample.
        if ended || phase_changed {
            self.publish_status();
        }
    }
}

/// Queues `message` for every page; a page whose queue is full has fallen behind and is
/// disconnected (its browser reconnects to a fresh snapshot), so the coordinator never
/// waits for a page and no queue grows past its bound.
fn send(clients: &mut Clients, message: &Message) {
    clients
        .queues
        .retain(|queue| match queue.try_send(message.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("a dashboard page fell behind; disconnected it to reconnect afresh");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
}

async fn feed(
    inner: Arc<Inner>,
    mut events: broadcast::Receiver<(String, Progress)>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(inner.config.status_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => {
                // Everything broadcast before the stop is already in the receiver.
                loop {
                    match events.try_recv() {
                        Ok((experiment, event)) => inner.apply(&experiment, &event),
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                        Err(_) => break,
                    }
                }
                inner.publish_status();
                return;
            }
            event = events.recv() => match event {
                Ok((experiment, event)) => inner.apply(&experiment, &event),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // The curves miss a few points; the status samples still show the state.
                    tracing::warn!(missed, "the dashboard fell behind the progress events");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = ticker.tick() => inner.publish_status(),
        }
    }
}

#[derive(Serialize)]
struct Snapshot<'a> {
    experiment: Option<&'a str>,
    series: Vec<&'a Series>,
    status: &'a Status,
}

#[derive(Serialize)]
struct Reset<'a> {
    experiment: Option<&'a str>,
}

/// A series without its points.
#[derive(Serialize)]
struct Header<'a> {
    id: u64,
    task: usize,
    name: &'a str,
    max_generations: Option<usize>,
    env_steps: Option<(u64, u64)>,
    mean_return: Option<f64>,
    finished: bool,
}

impl<'a> Header<'a> {
    fn of(s: &'a Series) -> Self {
        Header {
            id: s.id,
            task: s.task,
            name: &s.name,
            max_generations: s.max_generations,
            env_steps: s.env_steps,
            mean_return: s.mean_return,
            finished: s.finished,
        }
    }
}

#[derive(Serialize)]
struct PointMessage {
    series: u64,
    point: super::Point,
}

fn snapshot(history: &History, status: &Status) -> Message {
    let snapshot = Snapshot {
        experiment: history.experiment(),
        series: history.series().collect(),
        status,
    };
    message("snapshot", &snapshot)
}

fn message(event: &'static str, data: &impl Serialize) -> Message {
    // Serialising these plain structs cannot fail (string keys, no custom serialisers);
    // an empty object keeps the stream well-formed if it ever did.
    let data = serde_json::to_string(data).unwrap_or_else(|err| {
        tracing::warn!("serialising a dashboard event failed: {err}");
        "{}".to_owned()
    });
    Message {
        event,
        data: data.into(),
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

async fn events(State(inner): State<Arc<Inner>>) -> Response {
    let Some(queue) = inner.connect() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the dashboard serves no more pages at once; close one and reload\n",
        )
            .into_response();
    };
    let stream = ReceiverStream::new(queue).map(|message| {
        let mut event = Event::default().event(message.event).data(&*message.data);
        if message.event == "snapshot" {
            event = event.retry(RECONNECT);
        }
        Ok::<_, Infallible>(event)
    });
    // Comments every 15 s keep proxies and port-forwards from closing an idle stream.
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
