//! Text-to-image on Stable Diffusion ([`pipeline`]): one thread per model, images made one at a
//! time (each holds the cores), sent back as PNG files. The UNet ([`unet`]) and the
//! autoencoder's decoder ([`vae`]) are our own, on [`ops`]' CPU kernels (im2col convolution,
//! fused group norm + SiLU, blocked attention): they match diffusers' outputs (candle's UNet
//! did not) and run 2.5× faster than candle's. [`tiny`] writes a model with the real
//! architecture and seeded random weights for tests and benchmarks.

pub mod clip;
pub mod ops;
pub mod pipeline;
pub mod tiny;
pub mod tokens;
pub mod unet;
pub mod vae;

use tokio::sync::mpsc;

use crate::queue::{JobQueue, Jobs};
use crate::settings::ModelSettings;
use crate::task::{Backend, Counts, Event, EventStream, Finish, Task, TextToImage};
use crate::RuntimeError;

pub use pipeline::{Defaults, Pipeline, Settings};

/// The largest side and the most images per request.
const MAX_SIDE: u32 = 2048;
const MAX_IMAGES: u32 = 8;
const MAX_STEPS: u32 = 100;

struct Job {
    prompt: String,
    negative: String,
    settings: Settings,
    n: u32,
    events: mpsc::UnboundedSender<Event>,
}

/// The handle to one loaded image model.
pub struct ImageEngine {
    queue: JobQueue<Job>,
    defaults: Defaults,
}

/// What a request is metered by: denoising steps on 512×512 tiles, per image.
pub fn units(s: &Settings, n: u32) -> u64 {
    let tiles = (s.width * s.height).div_ceil(512 * 512) as u64;
    s.steps as u64 * tiles * u64::from(n)
}

impl ImageEngine {
    /// Loads the model and starts its thread. Blocking.
    pub fn load(settings: &ModelSettings) -> Result<Self, RuntimeError> {
        if !settings.path.join("unet").is_dir() {
            return Err(settings
                .missing("diffusers folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/)"));
        }
        let pipeline = Pipeline::load(&settings.path)?;
        let mut defaults = pipeline.defaults();
        if let Some(steps) = settings.image_steps {
            defaults.steps = steps as usize;
        }
        if let Some(g) = settings.image_guidance {
            defaults.guidance = f64::from(g);
        }
        let (queue, jobs) = crate::queue::bounded(settings.queue, settings.idle_unload);
        let name = settings.name.clone();
        let pool = match settings.threads {
            0 => None,
            n => rayon::ThreadPoolBuilder::new()
                .num_threads(n as usize)
                .build()
                .ok(),
        };
        std::thread::Builder::new()
            .name(format!("image-{name}"))
            .spawn(move || {
                run(&pipeline, pool.as_ref(), &jobs);
                tracing::info!(model = %name, "local model unloaded after its idle period");
            })
            .map_err(|e| RuntimeError::load(format!("cannot start the model thread: {e}")))?;
        Ok(ImageEngine { queue, defaults })
    }

    /// The request's settings with the model's defaults, or the 400 saying what is out of range.
    fn settings(&self, t: &TextToImage) -> Result<Settings, RuntimeError> {
        let d = self.defaults;
        let side = |v: Option<u32>, name: &'static str| -> Result<usize, RuntimeError> {
            let v = v.unwrap_or(d.size as u32);
            if v < d.multiple as u32 || v > MAX_SIDE || !(v as usize).is_multiple_of(d.multiple) {
                return Err(RuntimeError::invalid(
                    name,
                    format!(
                        "`{name}` must be a multiple of {} from {} to {MAX_SIDE}, got {v}",
                        d.multiple, d.multiple
                    ),
                ));
            }
            Ok(v as usize)
        };
        let steps = t.steps.unwrap_or(d.steps as u32);
        if !(1..=MAX_STEPS).contains(&steps) {
            return Err(RuntimeError::invalid(
                "num_steps",
                format!("the steps must be from 1 to {MAX_STEPS}, got {steps}"),
            ));
        }
        let guidance = t.guidance.map_or(d.guidance, f64::from);
        if !(0.0..=30.0).contains(&guidance) {
            return Err(RuntimeError::invalid(
                "guidance",
                format!("`guidance` must be from 0 to 30, got {guidance}"),
            ));
        }
        let seed = t.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Ok(Settings {
            width: side(t.width, "width")?,
            height: side(t.height, "height")?,
            steps: steps as usize,
            guidance,
            seed,
        })
    }
}

impl Backend for ImageEngine {
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError> {
        let Task::Imagine(t) = task else {
            return Err(RuntimeError::invalid(
                "model",
                "this model makes images from text prompts",
            ));
        };
        if t.prompt.trim().is_empty() {
            return Err(RuntimeError::invalid(
                "prompt",
                "`prompt` must not be empty",
            ));
        }
        if !(1..=MAX_IMAGES).contains(&t.n) {
            return Err(RuntimeError::invalid(
                "n",
                format!("`n` must be from 1 to {MAX_IMAGES}, got {}", t.n),
            ));
        }
        let settings = self.settings(&t)?;
        let (events, stream) = mpsc::unbounded_channel();
        self.queue.send(Job {
            prompt: t.prompt,
            negative: t.negative_prompt,
            settings,
            n: t.n,
            events,
        })?;
        Ok(stream)
    }

    fn context_length(&self) -> u32 {
        0
    }

    fn is_alive(&self) -> bool {
        self.queue.is_alive()
    }

    fn running(&self) -> usize {
        0
    }
}

fn run(pipeline: &Pipeline, pool: Option<&rayon::ThreadPool>, jobs: &Jobs<Job>) {
    while let Some(job) = jobs.wait() {
        let s = &job.settings;
        let mut failed = false;
        for i in 0..job.n {
            if job.events.is_closed() {
                failed = true;
                break;
            }
            // each image of a request gets the next seed
            let one = Settings {
                seed: s.seed.wrapping_add(u64::from(i)),
                ..s.clone()
            };
            let make = || pipeline.generate(&job.prompt, &job.negative, &one);
            let made = match pool {
                Some(pool) => pool.install(make),
                None => make(),
            }
            .and_then(|rgb| pipeline::png(&rgb, s.width, s.height));
            match made {
                Ok(png) => {
                    let _ = job.events.send(Event::Image {
                        png,
                        seed: one.seed,
                    });
                }
                Err(e) => {
                    let _ = job.events.send(Event::Failed(e));
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            let _ = job.events.send(Event::Done {
                finish: Finish::Stop,
                counts: Counts {
                    input: units(s, job.n),
                    output: 0,
                },
            });
        }
    }
}
