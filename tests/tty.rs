//! Terminals: `process.terminal` with a `--console-socket` (create, run -d, exec -d -t), and
//! the foreground `run`/`exec -t` that proxy the container's pty to hull's own terminal.
//!
//! [`ConsoleSocket`] is the test's console-socket receiver, in-process (what runc's `recvtty`
//! does): it listens on a unix socket path, accepts one connection, receives the pty master
//! with SCM_RIGHTS (the payload is a name), and then lets the test write input to the
//! container and read its output through the master. The foreground tests give hull a pty the
//! test allocated (`openpty`; hull's stdio is the slave, and its controlling terminal).

use hull_integration::{leaks, poll, Bundle, Hull};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A console socket: a listening unix socket whose one connection brings a pty master.
struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    fn new(h: &Hull) -> ConsoleSocket {
        let path = h.temp_dir().join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind the console socket");
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket { listener, path }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Accepts the one connection and receives the master sent on it.
    fn accept(&self) -> Master {
        let stream = poll(T, "a connection on the console socket", || {
            self.listener.accept().ok().map(|(s, _)| s)
        });
        stream.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([i32; 4]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg on the console socket");
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(got) = cmsg {
                fds.extend(got);
            }
        }
        let len = msg.bytes;
        let name = String::from_utf8_lossy(&buf[..len]).into_owned();
        assert_eq!(fds.len(), 1, "exactly one fd comes with the message");
        assert!(!name.is_empty(), "the message names the pty");
        // SAFETY: the kernel just installed this fd in our table.
        let fd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
        Master::new(fd)
    }
}

/// The test's end of a pty: input to write, output to read.
struct Master {
    fd: OwnedFd,
    seen: String,
    eof: bool,
}

impl Master {
    fn new(fd: OwnedFd) -> Master {
        Master {
            fd,
            seen: String::new(),
            eof: false,
        }
    }

    fn write(&self, text: &str) {
        let mut data = text.as_bytes();
        while !data.is_empty() {
            let n = nix::unistd::write(&self.fd, data).expect("write to the pty master");
            data = &data[n..];
        }
    }

    /// Reads what is there within `wait`; false at EOF (EIO once every slave is closed).
    fn read_some(&mut self, wait: Duration) -> bool {
        if self.eof {
            return false;
        }
        let ms = wait.as_millis().min(u16::MAX as u128) as u16;
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return true,
            Ok(_) => {}
            Err(e) => panic!("poll the pty master: {e}"),
        }
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.fd, &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => true,
            Err(e) => panic!("read the pty master: {e}"),
        }
    }

    /// Reads until the output so far contains `needle`; returns the output so far (with
    /// `\r\n` turned into `\n`).
    #[track_caller]
    fn read_until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + T;
        while !self.seen.contains(needle) {
            if !self.read_some(Duration::from_millis(200)) && !self.seen.contains(needle) {
                panic!("the pty closed before {needle:?}; output:\n{}", self.seen);
            }
            if Instant::now() > deadline {
                panic!(
                    "no {needle:?} on the pty within {T:?}; output:\n{}",
                    self.seen
                );
            }
        }
        self.text()
    }

    fn text(&self) -> String {
        self.seen.replace("\r\n", "\n")
    }
}

/// The script every terminal test runs: it reports its terminal, then echoes one line of
/// input back and exits with `code`.
fn tty_script(code: i32) -> String {
    format!(
        "echo tty=$(tty); echo size=$(stty size); echo fd0=$(readlink /proc/self/fd/0); \
         echo fstype=$(stat -f -c %T /dev/pts); echo dev=$(stat -c %d /dev/pts); \
         echo ready; read line; echo got:$line; exit {code}"
    )
}

/// The value of `key=` in the script's output.
fn field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the output:\n{out}"))
        .trim()
        .to_string()
}

/// Asserts the script's view: its stdin is a pty of the container's own devpts.
#[track_caller]
fn assert_container_pty(out: &str) {
    let fd0 = field(out, "fd0");
    assert!(
        fd0.starts_with("/dev/pts/"),
        "stdin is a pty in /dev/pts:\n{out}"
    );
    assert_eq!(field(out, "tty"), fd0, "tty names stdin:\n{out}");
    assert_eq!(field(out, "fstype"), "devpts", "{out}");
    let host_devpts = std::fs::metadata("/dev/pts").unwrap().dev();
    assert_ne!(
        field(out, "dev"),
        host_devpts.to_string(),
        "the container's /dev/pts is its own devpts instance, not the host's:\n{out}"
    );
}

/// A bundle running [`tty_script`] with a terminal of `rows`x`cols`.
fn tty_bundle(h: &Hull, code: i32, size: Option<(u16, u16)>) -> Bundle {
    let mut b = h.bundle();
    b.terminal(true).sh(&tty_script(code));
    if let Some((rows, cols)) = size {
        b.config["process"]["consoleSize"] = json!({"height": rows, "width": cols});
    }
    b
}

/// Talks to the script through `m`: waits for it to be ready, sends a line, checks the echo.
fn converse(m: &mut Master) -> String {
    let out = m.read_until("ready");
    m.write("hello-from-test\n");
    m.read_until("got:hello-from-test");
    out
}

/// `hull <cmd> --bundle B --console-socket S id` (which must succeed) of a [`tty_bundle`]
/// with a terminal of `size`; returns the id and the pty master hull sent on the socket.
#[track_caller]
fn run_with_console_socket(h: &Hull, cmd: &[&str], size: (u16, u16)) -> (String, Master) {
    let b = tty_bundle(h, 0, Some(size));
    let sock = ConsoleSocket::new(h);
    let id = h.new_id();
    b.save();
    let mut args = cmd.to_vec();
    args.extend([
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock.path(),
        &id,
    ]);
    h.run(&args).ok();
    let m = sock.accept();
    (id, m)
}

#[test]
fn create_with_console_socket() {
    let h = Hull::new();
    let (id, mut m) = run_with_console_socket(&h, &["create"], (37, 91));
    h.start(&id).ok();
    let out = converse(&mut m);
    assert_eq!(field(&out, "tty"), "/dev/pts/0", "{out}");
    assert_eq!(field(&out, "size"), "37 91", "process.consoleSize:\n{out}");
    assert_container_pty(&out);
    h.wait_stopped(&id);
}

#[test]
fn run_detached_with_console_socket() {
    let h = Hull::new();
    let (id, mut m) = run_with_console_socket(&h, &["run", "-d"], (24, 80));
    let out = converse(&mut m);
    assert_eq!(field(&out, "tty"), "/dev/pts/0", "{out}");
    assert_eq!(field(&out, "size"), "24 80", "{out}");
    assert_container_pty(&out);
    h.wait_stopped(&id);
}

#[test]
fn exec_detached_tty_with_console_socket() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let sock = ConsoleSocket::new(&h);
    h.run(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        sock.path(),
        &id,
        "sh",
        "-c",
        &tty_script(0),
    ])
    .ok();
    let mut m = sock.accept();
    let out = converse(&mut m);
    assert_eq!(
        field(&out, "tty"),
        "/dev/pts/0",
        "the first pty of the container's devpts:\n{out}"
    );
    assert_container_pty(&out);
}

#[test]
fn terminal_without_console_socket_fails() {
    let h = Hull::new();
    let b = tty_bundle(&h, 0, None);
    for detached in [false, true] {
        let id = h.new_id();
        let out = if detached {
            h.run_fg(&id, &b, &["-d"])
        } else {
            h.create(&id, &b)
        };
        // runc's words first
        out.assert_error(&["cannot allocate tty", "console"]);
        leaks::assert_nothing_left(&h, &id, &b.dir);
    }
}

#[test]
fn console_socket_without_terminal_fails() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["true"]);
    let sock = ConsoleSocket::new(&h);
    let id = h.new_id();
    b.save();
    h.run(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock.path(),
        &id,
    ])
    .assert_error(&["cannot use console socket", "terminal|tty"]);
    leaks::assert_nothing_left(&h, &id, &b.dir);
}

/// Spawns `cmd` with a new pty of `rows`x`cols` as its stdio and controlling terminal.
fn spawn_on_pty(mut cmd: Command, rows: u16, cols: u16) -> (Child, Master) {
    let ws = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
    let slave = pty.slave;
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn hull on a pty");
    // `cmd` holds the slave fds until it drops: drop it so EOF shows once hull exits.
    drop(cmd);
    (child, Master::new(pty.master))
}

fn wait_child(child: &mut Child, m: &mut Master) -> i32 {
    let status = poll(T, "hull to exit", || {
        // keep the pty drained so hull never blocks writing to it
        m.read_some(Duration::from_millis(0));
        child.try_wait().ok().flatten()
    });
    while m.read_some(Duration::from_millis(50)) {}
    status
        .code()
        .unwrap_or_else(|| panic!("hull was killed: {status:?}; output:\n{}", m.text()))
}

#[test]
fn foreground_run_with_a_terminal() {
    let h = Hull::new();
    let b = tty_bundle(&h, 6, None);
    b.save();
    let id = h.new_id();
    let cmd = h.command(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    let (mut child, mut m) = spawn_on_pty(cmd, 33, 77);
    let out = converse(&mut m);
    assert_container_pty(&out);
    assert_eq!(
        field(&out, "size"),
        "33 77",
        "the container's pty takes the size of hull's terminal:\n{out}"
    );
    assert_eq!(wait_child(&mut child, &mut m), 6, "{}", m.text());
    assert!(
        !h.state_dir(&id).exists(),
        "a foreground run deletes the container"
    );
}

#[test]
fn foreground_exec_with_a_terminal() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let cmd = h.command(&["exec", "-t", &id, "sh", "-c", &tty_script(9)]);
    let (mut child, mut m) = spawn_on_pty(cmd, 25, 100);
    let out = converse(&mut m);
    assert_container_pty(&out);
    assert_eq!(field(&out, "size"), "25 100", "{out}");
    assert_eq!(wait_child(&mut child, &mut m), 9, "{}", m.text());
    assert_eq!(h.status(&id).as_deref(), Some("running"));
}

#[test]
fn foreground_exec_without_tty_flag_has_no_terminal() {
    let h = Hull::new();
    let mut b = h.bundle();
    b.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &b);
    let out = h
        .run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "echo fd0=$(readlink /proc/self/fd/0); tty",
        ])
        .fail();
    assert!(
        out.stdout.contains("not a tty"),
        "no terminal without -t:\n{out}"
    );
}

/// The pty belongs to the process's uid (its group stays tty, 5, as runc's tests want); `consoleSize` of an
/// exec'd process (here from a process.json without `user`) sizes its pty.
#[test]
fn pty_owner_and_exec_console_size() {
    let h = Hull::new();
    let mut b = tty_bundle(&h, 0, Some((30, 90)));
    b.user(1000, 1000, &[])
        .sh("echo owner=$(stat -c '%u:%g' $(tty)); echo ready; read line; echo got:$line");
    let sock = ConsoleSocket::new(&h);
    let id = h.new_id();
    b.save();
    h.run(&[
        "run",
        "-d",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--console-socket",
        sock.path(),
        &id,
    ])
    .ok();
    let mut m = sock.accept();
    let out = converse(&mut m);
    assert_eq!(field(&out, "owner"), "1000:5", "{out}");

    let mut c = h.bundle();
    c.args(&["sleep", "1000"]);
    let id = h.new_id();
    h.create_start(&id, &c);
    let process = json!({
        "terminal": true,
        "consoleSize": {"height": 41, "width": 99},
        "args": ["/bin/sh", "-c", tty_script(0)],
        "cwd": "/"
    });
    let path = c.dir.join("process.json");
    std::fs::write(&path, serde_json::to_vec(&process).unwrap()).unwrap();
    let sock = ConsoleSocket::new(&h);
    h.run(&[
        "exec",
        "-d",
        "--console-socket",
        sock.path(),
        "--process",
        path.to_str().unwrap(),
        &id,
    ])
    .ok();
    let mut m = sock.accept();
    let out = converse(&mut m);
    assert_eq!(field(&out, "size"), "41 99", "{out}");
    assert_container_pty(&out);
}
