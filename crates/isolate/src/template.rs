//! The template: a jailed process that never runs a snippet and makes workers by forking
//! itself, so that a worker starts in a fraction of what starting the binary costs (loading
//! and relocating it, a network namespace, Landlock, rlimits: all made once, inherited).
//!
//! The pool talks to it over a Unix socket on its stdin, in fixed-size [`Report`]s. For each
//! worker the pool sends the three pipe ends that become the worker's stdin, stdout and
//! stderr; the template forks, and the child goes on as a worker (its threads, the seccomp
//! filter, the warm-up run, `ready`), while the template sends back the child's pid and a
//! pidfd for it (with which the pool kills it). The template is the child's parent: it reaps
//! it and reports how it ended and its peak memory.

use std::os::fd::RawFd;

/// What the template tells the pool, in a message of [`Report::SIZE`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// The template is ready (`errno` 0), or cannot serve (why, as an `errno`).
    Hello { errno: i32 },
    /// A worker was forked; the message carries a pidfd for it.
    Started { pid: i32 },
    /// A worker could not be forked.
    Failed { errno: i32 },
    /// A worker ended: its wait status and peak resident memory.
    Ended {
        pid: i32,
        status: i32,
        max_rss_kib: i64,
    },
}

impl Report {
    pub const SIZE: usize = 24;

    pub fn encode(self) -> [u8; Report::SIZE] {
        let (kind, a, b, c) = match self {
            Report::Hello { errno } => (0, errno, 0, 0),
            Report::Started { pid } => (1, pid, 0, 0),
            Report::Failed { errno } => (2, errno, 0, 0),
            Report::Ended {
                pid,
                status,
                max_rss_kib,
            } => (3, pid, status, max_rss_kib),
        };
        let mut bytes = [0u8; Report::SIZE];
        bytes[0..4].copy_from_slice(&i32::to_le_bytes(kind));
        bytes[4..8].copy_from_slice(&i32::to_le_bytes(a));
        bytes[8..12].copy_from_slice(&i32::to_le_bytes(b));
        bytes[16..24].copy_from_slice(&i64::to_le_bytes(c));
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Report> {
        if bytes.len() != Report::SIZE {
            return None;
        }
        let word = |at: usize| i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let wide = i64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
        Some(match word(0) {
            0 => Report::Hello { errno: word(4) },
            1 => Report::Started { pid: word(4) },
            2 => Report::Failed { errno: word(4) },
            3 => Report::Ended {
                pid: word(4),
                status: word(8),
                max_rss_kib: wide,
            },
            _ => return None,
        })
    }
}

/// Sends `report` on `socket`, with `fd` attached when given.
#[cfg(target_os = "linux")]
pub fn send(socket: RawFd, report: Report, fd: Option<RawFd>) -> std::io::Result<()> {
    let bytes = report.encode();
    let fds: Vec<RawFd> = fd.into_iter().collect();
    send_with_fds(socket, &bytes, &fds)
}

/// One message of `bytes` on `socket`, with `fds` passed along (`SCM_RIGHTS`).
#[cfg(target_os = "linux")]
pub fn send_with_fds(socket: RawFd, bytes: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let room = cmsg_room(fds.len());
    let mut control = vec![0u8; room];
    // SAFETY: a zeroed msghdr pointing at locals that outlive the call; the control buffer
    // has the room CMSG_SPACE says for the descriptors copied into it.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        if !fds.is_empty() {
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = room as _;
            let header = libc::CMSG_FIRSTHDR(&message);
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(header),
                std::mem::size_of_val(fds),
            );
        }
        loop {
            if libc::sendmsg(socket, &message, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

/// One message from `socket` into `bytes`: its length (0: the other end closed) and the
/// descriptors that came with it (at most `most`; any more are closed).
#[cfg(target_os = "linux")]
pub fn receive_with_fds(
    socket: RawFd,
    bytes: &mut [u8],
    most: usize,
) -> std::io::Result<(usize, Vec<std::os::fd::OwnedFd>)> {
    use std::os::fd::FromRawFd;
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    // Room for a few more than expected, so that extra ones are received and closed.
    let room = cmsg_room(most + 4);
    let mut control = vec![0u8; room];
    // SAFETY: as in send_with_fds; the descriptors read from the control message are the
    // kernel's new ones, ours to own.
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = room as _;
        let n = loop {
            let n = libc::recvmsg(socket, &mut message, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error);
            }
        };
        let mut fds = Vec::new();
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(header);
                let len = (*header).cmsg_len as usize - (data as usize - header as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = data
                        .add(i * std::mem::size_of::<RawFd>())
                        .cast::<RawFd>()
                        .read_unaligned();
                    fds.push(std::os::fd::OwnedFd::from_raw_fd(fd));
                }
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
        fds.truncate(most);
        Ok((n, fds))
    }
}

#[cfg(target_os = "linux")]
fn cmsg_room(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic.
    unsafe { libc::CMSG_SPACE((fds * std::mem::size_of::<RawFd>()) as u32) as usize }
}

/// The template's loop, on the socket that is its stdin, once the jail's first steps are
/// done. Returns the exit code: the template's when the pool closes the socket, or, in a
/// forked child, what `worker` (the rest of a worker's life) returns.
#[cfg(target_os = "linux")]
pub fn serve(mut worker: impl FnMut() -> i32) -> i32 {
    use std::os::fd::AsRawFd;
    const SOCKET: RawFd = 0;
    // SAFETY: signal masks and a signalfd for this single-threaded process, pidfd_open on
    // its own pid to learn whether the kernel has pidfds at all.
    let (signals, old_mask) = unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        let mut old_mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::sigaddset(&mut mask, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &mask, &mut old_mask);
        let signals = libc::signalfd(-1, &mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        let probe = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0);
        let errno = if signals < 0 || probe < 0 {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOSYS)
        } else {
            libc::close(probe as RawFd);
            0
        };
        if send(SOCKET, Report::Hello { errno }, None).is_err() || errno != 0 {
            return 1;
        }
        (signals, old_mask)
    };
    // SAFETY: prctl with a C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"codemode-fork".as_ptr(), 0, 0, 0) };
    let me = std::process::id() as libc::pid_t;
    let mut bytes = [0u8; 16];
    loop {
        let mut polled = [
            libc::pollfd {
                fd: SOCKET,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on two descriptors we hold, with a valid array.
        if unsafe { libc::poll(polled.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if polled[1].revents != 0 {
            reap(SOCKET, signals);
        }
        if polled[0].revents == 0 {
            continue;
        }
        let (n, fds) = match receive_with_fds(SOCKET, &mut bytes, 3) {
            Ok(received) => received,
            Err(_) => return 1,
        };
        if n == 0 {
            // The pool is gone: so are its workers (they die with their parent, this one).
            return 0;
        }
        let [stdin, stdout, stderr] = fds.as_slice() else {
            let _ = send(
                SOCKET,
                Report::Failed {
                    errno: libc::EINVAL,
                },
                None,
            );
            continue;
        };
        // SAFETY: this process has one thread, so the child has everything it had.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            let _ = send(SOCKET, Report::Failed { errno }, None);
            continue;
        }
        if pid == 0 {
            // The child: its pipes on 0, 1 and 2 (replacing the socket on 0), nothing else
            // of the template's open, its signals as a worker's, death with the template.
            // SAFETY: dup2, close, sigprocmask and prctl on what this process owns.
            unsafe {
                libc::close(signals);
                for (fd, to) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
                    if libc::dup2(fd.as_raw_fd(), to) < 0 {
                        libc::_exit(1);
                    }
                }
                drop(fds);
                libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                // What `ps` and `top` call it.
                libc::prctl(libc::PR_SET_NAME, c"codemode-worker".as_ptr(), 0, 0, 0);
                if libc::getppid() != me {
                    libc::_exit(1);
                }
            }
            return worker();
        }
        drop(fds);
        // SAFETY: pidfd_open on our own child, which only this process can reap.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if pidfd < 0 {
            // SAFETY: kill and reap the child no one could stop otherwise.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            let _ = send(SOCKET, Report::Failed { errno }, None);
            continue;
        }
        let _ = send(SOCKET, Report::Started { pid }, Some(pidfd as RawFd));
        // SAFETY: our own descriptor, sent (the pool has its copy).
        unsafe { libc::close(pidfd as RawFd) };
    }
}

/// Reaps every child that has ended and reports each.
#[cfg(target_os = "linux")]
fn reap(socket: RawFd, signals: RawFd) {
    let mut info = [0u8; 128];
    // SAFETY: reading the signalfd's pending records into a buffer of its record size.
    while unsafe { libc::read(signals, info.as_mut_ptr().cast(), info.len()) } > 0 {}
    loop {
        let mut status = 0;
        // SAFETY: wait4 with valid pointers to locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
        if pid <= 0 {
            return;
        }
        let report = Report::Ended {
            pid,
            status,
            max_rss_kib: usage.ru_maxrss,
        };
        let _ = send(socket, report, None);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn serve(_worker: impl FnMut() -> i32) -> i32 {
    1
}

#[cfg(test)]
mod tests {
    use super::Report;

    #[test]
    fn reports_read_back_as_written() {
        for report in [
            Report::Hello { errno: 0 },
            Report::Started { pid: 4242 },
            Report::Failed { errno: 11 },
            Report::Ended {
                pid: 7,
                status: 9,
                max_rss_kib: 1 << 40,
            },
        ] {
            assert_eq!(Report::decode(&report.encode()), Some(report));
        }
        assert_eq!(Report::decode(&[1, 2, 3]), None);
        assert_eq!(Report::decode(&[9; Report::SIZE]), None);
    }
}
