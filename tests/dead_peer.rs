//! A peer that vanishes without a FIN or RST (its network cut, then the process killed) must not
//! keep its agency's claim: the returning agency, from another address, gets in within its retry
//! window. The vanishing client runs in a network namespace joined to the host by a veth pair; the
//! cut is `ip link set <host side> down`. Needs root (`ip netns`); skipped with a message otherwise.
//!
//! Each test prints one `reliability:` row for `docs/reliability.md` (`make reliability`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A network namespace with a veth pair: `host_ip` on the host side, `peer_ip` inside.
struct Netns {
    name: String,
    host_if: String,
    peer_ip: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

impl Netns {
    /// Creates the namespace and its link, or `None` when this machine does not allow it.
    fn create(tag: u8) -> Option<Netns> {
        let pid = std::process::id() % 10_000;
        let net = Netns {
            name: format!("tp0dp{tag}-{pid}"),
            host_if: format!("tp0h{tag}-{pid}"),
            peer_ip: format!("10.{}.{}.2", 200 + u32::from(tag), pid % 250),
        };
        let host_ip = format!("10.{}.{}.1/30", 200 + u32::from(tag), pid % 250);
        let peer_if = format!("tp0p{tag}-{pid}");
        let ns = net.name.as_str();
        let peer_cidr = format!("{}/30", net.peer_ip);
        let steps: [&[&str]; 8] = [
            &["netns", "add", ns],
            &[
                "link",
                "add",
                &net.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &peer_if,
            ],
            &["link", "set", &peer_if, "netns", ns],
            &["addr", "add", &host_ip, "dev", &net.host_if],
            &["link", "set", &net.host_if, "up"],
            &[
                "netns", "exec", ns, "ip", "addr", "add", &peer_cidr, "dev", &peer_if,
            ],
            &["netns", "exec", ns, "ip", "link", "set", &peer_if, "up"],
            &["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !ip(step) {
                println!(
                    "dead_peer: skipped, `ip {}` is not permitted here",
                    step.join(" ")
                );
                return None;
            }
        }
        Some(net)
    }

    /// Cuts the link: from now on nothing crosses, not even a FIN or an RST.
    fn cut(&self) {
        assert!(ip(&["link", "set", &self.host_if, "down"]));
    }

    /// The real client, inside the namespace, for `agency` of `data` on the server's port.
    fn spawn_client(
        &self,
        port: u16,
        agency: u32,
        data: &Dataset,
        env: &[(&str, &str)],
    ) -> std::process::Child {
        let host = self.peer_ip.trim_end_matches(".2").to_string() + ".1";
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, CLIENT])
            .env("CLI_ID", agency.to_string())
            .env("CLI_SERVER_ADDRESS", format!("{host}:{port}"))
            .env("CLI_DATA_FILE", data.file(agency))
            .env("CLI_LOG_LEVEL", "INFO")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        command.spawn().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its end of the pair, and with it the host end.
        ip(&["netns", "del", &self.name]);
        ip(&["link", "del", &self.host_if]);
    }
}

/// The client in the namespace is cut off `when` says, then killed; agency 1 comes back from
/// 127.0.0.1 with a 20 s retry window; agency 2 then completes the round.
fn cut_off_kill_and_return(tag: u8, mid_upload: bool) -> Option<Duration> {
    let net = Netns::create(tag)?;
    let bets = if mid_upload { 40_000 } else { 300 };
    let (round, data) = Round::generated(&format!("deadpeer{tag}"), 2, bets, &[]);
    let slow = [("CLI_BATCH_MAXAMOUNT", "2"), ("CLI_BATCH_WINDOW", "1")];
    let mut victim = net.spawn_client(round.port, 1, &data, if mid_upload { &slow } else { &[] });
    if mid_upload {
        round.wait_for_batches(50);
    } else {
        wait_for("agency 1's END", Duration::from_secs(20), || {
            round.count_in_log("action: end_agency | result: success | agency: 1") == 1
        });
    }
    net.cut();
    victim.kill().unwrap();
    let _ = victim.wait();
    let back_at = Instant::now();
    let back = spawn_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "20s")],
    );
    wait_for("agency 1 let back in", Duration::from_secs(25), || {
        round.count_in_log("action: hello | result: success") >= 2
    });
    let let_in = back_at.elapsed();
    run_client_ok(&round.address(), 2, &data.file(2), &[]);
    finished_with_winners(back, data.winners[0], "the returning agency was locked out");
    assert_one_complete_draw(&round, &data);
    drop(round);
    Some(let_in)
}

#[test]
fn a_client_cut_off_and_killed_while_waiting_for_the_draw_is_let_back_in() {
    if let Some(let_in) = cut_off_kill_and_return(1, false) {
        evidence(
            "a waiting client cut off from the network, then killed (no FIN ever arrives)",
            "veth link of its namespace set down after its END, SIGKILL, restart from another address",
            &format!("keepalive and TCP_USER_TIMEOUT end the dead session; the agency is back in after {:.1} s and gets its winners; one draw", let_in.as_secs_f64()),
        );
    }
}

#[test]
fn a_client_cut_off_and_killed_mid_upload_resumes_from_another_address() {
    if let Some(let_in) = cut_off_kill_and_return(2, true) {
        evidence(
            "an uploading client cut off from the network, then killed (no FIN ever arrives)",
            "veth link of its namespace set down mid-upload, SIGKILL, restart from another address",
            &format!("the dead session is noticed by TCP_USER_TIMEOUT; the agency resumes after {:.1} s at its stored position, each row once; one draw", let_in.as_secs_f64()),
        );
    }
}
