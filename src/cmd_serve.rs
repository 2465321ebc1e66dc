//! `hoptrail serve`: collector + indexer + API in one process.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hoptrail_collector::{
    create_topics, dead_letter_topic, Detection, KafkaConfig, Pipeline, PipelineHandle,
};
use hoptrail_core::detect::DetectSettings;
use hoptrail_indexer::metrics::Metrics;
use hoptrail_indexer::{AlertStore, EventIndex, WriterConfig};
use hoptrail_query_api::audit_log::AuditLog;
use hoptrail_query_api::auth::{Auth, KeyStore, RateLimiter};
use hoptrail_query_api::{AppState, Readiness};

use crate::{settings, IndexArgs};

/// The Kafka settings given as flags.
pub struct KafkaFlags {
    pub brokers: Option<String>,
    pub group_id: Option<String>,
    pub properties: Vec<(String, String)>,
}

pub fn run(
    index: IndexArgs,
    kafka_flags: KafkaFlags,
    listen: Option<String>,
    create: bool,
    api_flags: settings::ApiFlags,
) -> Result<ExitCode> {
    let mut file = settings::load(index.config.as_deref())?;
    if kafka_flags.group_id.is_some() {
        file.kafka.group_id = kafka_flags.group_id;
    }
    let data_dir = settings::data_dir(index.data_dir, &file);
    let listen = listen
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| settings::DEFAULT_LISTEN.to_owned());
    let mut kafka = settings::kafka(
        &file,
        kafka_flags.brokers,
        &kafka_flags.properties,
        settings::env_map(),
    )?;
    if let Some(k) = kafka.as_mut() {
        k.create_topics |= create;
    }
    let writer = settings::writer(&file.index)?;
    let api = settings::api(&file.api, api_flags, &data_dir)?;
    let detect = settings::detect(&file)?;
    let index = EventIndex::open_or_create(&data_dir)
        .with_context(|| format!("opening the index in {}", data_dir.display()))?;
    tracing::info!(data_dir = %data_dir.display(), events = index.num_docs(), "index open");
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("binding the API to {listen}"))?;
        serve(
            index,
            kafka,
            writer,
            detect,
            api,
            listener,
            std::future::pending(),
        )
        .await
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hoptrail-api")
        .build()?)
}

/// Runs the pipeline (when Kafka is configured) and the API until a signal, `stop`, or a
/// pipeline failure. Exits non-zero after a pipeline failure so a supervisor restarts it.
pub async fn serve(
    index: EventIndex,
    kafka: Option<KafkaConfig>,
    writer: WriterConfig,
    detect: DetectSettings,
    api: settings::ApiSettings,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<ExitCode> {
    let auth = Arc::new(open_auth(&api)?);
    let metrics = Arc::new(Metrics::default());
    let alerts = AlertStore::open_in_data_dir(index.path()).context("opening the alert store")?;
    let mut pipeline: Option<PipelineHandle> = None;
    if let Some(kafka) = &kafka {
        if kafka.create_topics {
            let mut all = kafka.topics.clone();
            all.extend(
                kafka
                    .topics
                    .iter()
                    .map(|t| dead_letter_topic(t, &kafka.dead_letter_suffix)),
            );
            create_topics(kafka, &all, kafka.create_partitions).await?;
        }
        let writer = index.writer(writer).context("opening the index writer")?;
        let detection = Detection::new(
            detect,
            index.searcher(),
            alerts.writer().context("opening the alert store writer")?,
            metrics.clone(),
        );
        pipeline = Some(
            Pipeline::new(kafka, writer, metrics.clone())?
                .with_detection(detection)
                .spawn()?,
        );
    } else {
        tracing::info!("no Kafka brokers configured: serving the index as it is");
    }
    let readiness = Readiness {
        consumer_running: pipeline.as_ref().map(PipelineHandle::running_flag),
    };
    let state = AppState {
        auth,
        replay_max_gap: api.replay_max_gap,
        searcher: index.searcher(),
        alerts: alerts.reader(),
        metrics,
        readiness,
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = api.tls.is_some(), "API listening");

    let (tx, rx) = tokio::sync::watch::channel(false);
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown_signal() => tracing::info!("signal received; shutting down"),
                _ = stop => {},
            }
            let _ = tx.send(true);
        });
    }
    if let Some(handle) = &pipeline {
        let flag = handle.running_flag();
        let tx = tx.clone();
        let failed = failed.clone();
        tokio::spawn(async move {
            // The consumer sets the flag as it starts; wait for that before watching it.
            let mut started = false;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let running = flag.load(std::sync::atomic::Ordering::Acquire);
                if running {
                    started = true;
                } else if started && !*tx.borrow() {
                    failed.store(true, std::sync::atomic::Ordering::Release);
                    let _ = tx.send(true);
                    return;
                }
            }
        });
    }
    if let Some(metrics_addr) = &api.metrics_listen {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("binding the metrics listener to {metrics_addr}"))?;
        tracing::warn!(addr = %metrics_listener.local_addr()?, "serving /metrics without authentication");
        let mut rx_metrics = rx.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = rx_metrics.wait_for(|stop| *stop).await;
            };
            if let Err(e) =
                hoptrail_query_api::serve_metrics(metrics_listener, state, stopped).await
            {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    let mut rx_api = rx.clone();
    let served = hoptrail_query_api::serve(listener, state, api.tls.clone(), async move {
        let _ = rx_api.wait_for(|stop| *stop).await;
    });
    served.await.context("serving the API")?;
    let mut result = Ok(ExitCode::SUCCESS);
    if let Some(handle) = pipeline {
        let outcome = tokio::task::spawn_blocking(move || handle.stop()).await?;
        if let Err(e) = outcome {
            result = Err(anyhow::Error::new(e).context("the collector failed"));
        }
    }
    if failed.load(std::sync::atomic::Ordering::Acquire) && result.is_ok() {
        result = Err(anyhow::anyhow!("the collector stopped unexpectedly"));
    }
    drop(rx);
    result
}

fn open_auth(api: &settings::ApiSettings) -> Result<Auth> {
    let keys = KeyStore::open(&api.data_dir)?;
    let active = keys.active_keys(chrono::Utc::now());
    if active == 0 {
        tracing::warn!(
            data_dir = %api.data_dir.display(),
            "no API keys: every request but /healthz and /readyz is refused; create one with \
             `hoptrail keys create --tenant default --role analyst --data-dir <dir>`"
        );
    } else {
        tracing::info!(keys = active, "api keys loaded");
    }
    let audit = AuditLog::open(&api.audit_log, api.audit_log_max_bytes)?;
    tracing::info!(path = %audit.path().display(), "audit log open");
    Ok(Auth {
        keys,
        limiter: RateLimiter::new(api.rate_limit),
        audit: Some(audit),
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
