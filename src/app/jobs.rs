//! Background jobs: loading, weight analysis, comparisons and what-if runs happen on threads so
//! the window keeps painting. Each job has a progress text (fed by the engine's progress
//! callback: "float: layer 3/12 CONV_2D"), a cancel flag (the engine's), and catches panics at
//! its boundary so a bug in a kernel shows as an error in the window instead of killing it.
//! A job can hand over results before its last one ([`Job::spawn_streaming`]): the main
//! comparison first, the other preprocessing settings when they arrive.

use crate::engine::EngineOptions;
use eframe::egui;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Kernel threads for the engine runs of jobs started from now on (Run > Kernel threads;
/// 0: one per core), passed to the library as `EngineOptions::threads`.
static KERNEL_THREADS: AtomicUsize = AtomicUsize::new(0);

pub fn set_kernel_threads(n: usize) {
    KERNEL_THREADS.store(n, Ordering::Relaxed);
}

pub fn kernel_threads() -> usize {
    KERNEL_THREADS.load(Ordering::Relaxed)
}

/// What a running job can see: where to write progress, whether it was cancelled.
#[derive(Clone)]
pub struct JobCtx {
    progress: Arc<Mutex<String>>,
    cancel: Arc<AtomicBool>,
    repaint: Option<egui::Context>,
}

impl JobCtx {
    pub fn set_progress(&self, text: impl Into<String>) {
        if let Ok(mut p) = self.progress.lock() {
            *p = text.into();
        }
        if let Some(c) = &self.repaint {
            c.request_repaint();
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Engine options whose progress reads "`prefix`layer i/n OP" (the prefix can change
    /// between runs, e.g. "image 2/5, ").
    pub fn engine_options_prefixed(&self, prefix: Arc<Mutex<String>>) -> EngineOptions {
        let me = self.clone();
        EngineOptions {
            cancel: Some(self.cancel.clone()),
            progress: Some(Arc::new(move |i: usize, n: usize, op: &str| {
                let p = prefix.lock().map(|p| p.clone()).unwrap_or_default();
                me.set_progress(format!("{p}layer {}/{n} {op}", i + 1));
            })),
            threads: kernel_threads(),
            ..Default::default()
        }
    }

    /// Engine options wired to this job: progress "`what`: layer i/n OP", and the cancel flag.
    pub fn engine_options(&self, what: &str) -> EngineOptions {
        let me = self.clone();
        let what = what.to_string();
        EngineOptions {
            cancel: Some(self.cancel.clone()),
            progress: Some(Arc::new(move |i: usize, n: usize, op: &str| {
                me.set_progress(format!("{what}: layer {}/{n} {op}", i + 1));
            })),
            threads: kernel_threads(),
            ..Default::default()
        }
    }
}

/// What a job sends: a result it will still improve on, or its last one.
enum Msg<T> {
    Partial(T),
    Last(Result<T, String>),
}

/// A job running on its own thread, producing `T` or an error message (and, for a streaming
/// job, earlier versions of `T` before that).
pub struct Job<T> {
    pub label: String,
    rx: Receiver<Msg<T>>,
    ctx: JobCtx,
    pub started: Instant,
    done: bool,
}

impl<T: Send + 'static> Job<T> {
    pub fn spawn(
        label: impl Into<String>,
        repaint: Option<egui::Context>,
        f: impl FnOnce(&JobCtx) -> Result<T, String> + Send + 'static,
    ) -> Job<T> {
        Self::spawn_streaming(label, repaint, move |jc, _| f(jc))
    }

    /// A job that can hand over results before its last one: `f` calls `partial(t)` with each
    /// (shown at once), then returns the last. [`Self::poll`] / [`Self::wait`] return each in
    /// turn; [`Self::finished`] tells the last one apart.
    pub fn spawn_streaming(
        label: impl Into<String>,
        repaint: Option<egui::Context>,
        f: impl FnOnce(&JobCtx, &dyn Fn(T)) -> Result<T, String> + Send + 'static,
    ) -> Job<T> {
        let (tx, rx) = mpsc::channel();
        let ctx = JobCtx {
            progress: Arc::new(Mutex::new("starting".into())),
            cancel: Arc::new(AtomicBool::new(false)),
            repaint,
        };
        let jc = ctx.clone();
        let label = label.into();
        let what = label.clone();
        std::thread::Builder::new()
            .name(format!("job: {label}"))
            .spawn(move || {
                let partial = |t: T| {
                    let _ = tx.send(Msg::Partial(t));
                    if let Some(c) = &jc.repaint {
                        c.request_repaint();
                    }
                };
                let r = catch_unwind(AssertUnwindSafe(|| f(&jc, &partial))).unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(format!(
                        "internal error while {what}: {msg} (please report this)"
                    ))
                });
                let _ = tx.send(Msg::Last(r));
                if let Some(c) = &jc.repaint {
                    c.request_repaint();
                }
            })
            .expect("cannot start a thread");
        Job {
            label,
            rx,
            ctx,
            started: Instant::now(),
            done: false,
        }
    }

    /// Whether the last result was handed over (a streaming job may have sent earlier ones).
    pub fn finished(&self) -> bool {
        self.done
    }

    fn received(&mut self, m: Msg<T>) -> Result<T, String> {
        match m {
            Msg::Partial(t) => Ok(t),
            Msg::Last(r) => {
                self.done = true;
                r
            }
        }
    }

    /// The next result (an earlier one of a streaming job, or the last, returned once),
    /// without blocking.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        if self.done {
            return None;
        }
        match self.rx.try_recv() {
            Ok(m) => Some(self.received(m)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.done = true;
                Some(Err(format!(
                    "{}: the job ended without a result",
                    self.label
                )))
            }
        }
    }

    /// Blocks until the job's next result (tests, and the report export).
    pub fn wait(&mut self) -> Option<Result<T, String>> {
        if self.done {
            return None;
        }
        match self.rx.recv() {
            Ok(m) => Some(self.received(m)),
            Err(_) => {
                self.done = true;
                Some(Err(format!(
                    "{}: the job ended without a result",
                    self.label
                )))
            }
        }
    }

    /// The result once finished: [`Self::wait`] when `block` (tests, scripted use), else
    /// [`Self::poll`] (each frame). One path serves both, so tests run what the window runs.
    pub fn take(&mut self, block: bool) -> Option<Result<T, String>> {
        if block {
            self.wait()
        } else {
            self.poll()
        }
    }

    /// The results of the finished jobs in `jobs` (waiting for each when `block`), which
    /// leave the list.
    pub fn take_finished(jobs: &mut Vec<Job<T>>, block: bool) -> Vec<Result<T, String>> {
        let mut done = Vec::new();
        jobs.retain_mut(|j| match j.take(block) {
            Some(r) => {
                done.push(r);
                !j.finished()
            }
            None => true,
        });
        done
    }

    pub fn progress(&self) -> String {
        self.ctx
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    pub fn cancel(&self) {
        self.ctx.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.ctx.cancelled()
    }

    /// One line for the status bar, with a cancel button. Returns true when cancel was clicked.
    pub fn status_ui(&self, ui: &mut egui::Ui) -> bool {
        let mut clicked = false;
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!(
                "{} - {} ({:.1} s)",
                self.label,
                self.progress(),
                self.started.elapsed().as_secs_f32()
            ));
            if ui.small_button("Cancel").clicked() {
                self.cancel();
                clicked = true;
            }
        });
        clicked
    }
}
