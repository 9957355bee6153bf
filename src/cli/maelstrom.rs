//! `distlab maelstrom PROTOCOL`: one distlab node as a Maelstrom binary
//! (JSON lines on standard input and output), so Jepsen's Maelstrom can
//! test distlab's protocols. The protocol's parameters are built after
//! `init`, for the cluster it names, as a scenario file with this
//! `[protocol]` table would build them (`--param`). See
//! `distlab::live::maelstrom` for the messages and error codes.

use super::Outcome;
use distlab::live::maelstrom::{KvProtocol, Options, serve};
use distlab::protocols::{echo::Echo, primary_replica::PrimaryReplica, quorum::Quorum};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab maelstrom quorum
  distlab maelstrom primary-replica --param 'mode=\"sync\"' --data-dir /var/tmp/n1
  maelstrom test -w lin-kv --bin ./distlab-quorum.sh --node-count 3 --time-limit 20
  distlab maelstrom echo")]
pub struct Args {
    /// The protocol: quorum or primary-replica (Maelstrom's lin-kv
    /// workload), or echo (the echo workload).
    pub protocol: String,
    /// A line of the protocol's `[protocol]` table, as in a scenario file
    /// (repeat for several): `--param 'w = 3'`.
    #[arg(long, value_name = "TOML")]
    pub param: Vec<String>,
    /// The directory of the node's durable log (`NODE_ID.log`): a node
    /// restarted with the same directory recovers from it. Default: a
    /// fresh directory under the system's temporary directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seed of the node's random choices.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("distlab-maelstrom-{}-{nanos}", std::process::id()))
    });
    let options = Options { data_dir, seed: args.seed };
    match args.protocol.as_str() {
        "quorum" => node::<Quorum>(&args, &options)?,
        "primary-replica" => node::<PrimaryReplica>(&args, &options)?,
        "echo" => node::<Echo>(&args, &options)?,
        other => anyhow::bail!(
            "distlab maelstrom serves quorum and primary-replica (Maelstrom's lin-kv workload) and echo, not {other:?}"
        ),
    }
    Ok(Outcome::Success)
}

fn node<P: KvProtocol>(args: &Args, options: &Options) -> anyhow::Result<()> {
    serve::<P>(options, |names| {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let source = format!(
            "[scenario]\nname = \"maelstrom\"\nprotocol = \"{}\"\nduration = \"1s\"\n\n[cluster]\nnodes = [{}]\n\n[protocol]\n{}\n",
            P::NAME,
            quoted.join(", "),
            args.param.join("\n")
        );
        let scenario = distlab::scenario::load_str(&distlab::protocols::registry(), "--param", &source)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        scenario
            .params
            .downcast_ref::<P::Params>()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the parameters of another protocol"))
    })
}
