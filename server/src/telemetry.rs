//! Logging through `tracing`: JSON lines by default, readable output with `LOG_FORMAT=pretty`.
//! Every JSON line names the instance that wrote it (`INSTANCE_ID`), so the logs of several
//! instances can be read together.

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{Config, LogFormat};

/// Installs the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let result = match config.log_format {
        LogFormat::Json => {
            let json = format().json().with_current_span(true).with_span_list(false).flatten_event(true);
            fmt()
                .with_env_filter(filter)
                .fmt_fields(JsonFields::new())
                .event_format(WithInstance::new(json, &config.instance_id))
                .try_init()
        }
        LogFormat::Pretty => fmt().pretty().with_env_filter(filter).try_init(),
    };
    if result.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
    }
}

fn format() -> format::Format {
    format::Format::default()
}

/// A JSON event format whose objects begin with `"instance": <id>`.
struct WithInstance<F> {
    inner: F,
    prefix: String,
}

impl<F> WithInstance<F> {
    fn new(inner: F, instance: &str) -> Self {
        let name = serde_json::to_string(instance).unwrap_or_else(|_| "\"\"".to_owned());
        Self { inner, prefix: format!("{{\"instance\":{name},") }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithInstance<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => {
                writer.write_str(&self.prefix)?;
                writer.write_str(rest)
            }
            None => writer.write_str(&line),
        }
    }
}
